import XCTest
import Ember

/// README.md's "A tour", verbatim (scripts/check_docs_snippets.py checks it).
final class ReadmeTourTests: ArticleTestCase {
    func testTour() throws {
        try skipUnlessFashionMNIST()

        // Tensors: float32, int64, bool and uint8 (images); views share memory, as PyTorch's do.
        manualSeed(0)                                 // the same numbers on any thread count
        let m = Tensor.randn([3, 4])
        m[.all, 1..<3] = Tensor(0)                    // x[:, 1:3] = 0
        let positives = m[m > 0]                      // masks and index tensors give copies
        let joined = Tensor.cat([m, m], dim: 1)       // stack, split, chunk, gather, topk, sort, …
        let scores = m.matmul(m.T)                    // batched, broadcasting matmul

        // Autograd: requiresGrad, backward() from a scalar, grads accumulate until zeroed.
        let w = Tensor.randn([10, 784]).requiringGrad()
        let x = Tensor.randn([64, 784])
        let loss = crossEntropy(linear(x, w), Tensor.randint(0, 10, [64]))
        loss.backward()                               // w.grad: [10, 784]
        noGrad { /* evaluation: nothing recorded */ }

        // nn and optim: Module subclasses whose stored properties are their layers; activations
        // ReLU, GELU, SiLU, Tanh, Sigmoid, LeakyReLU, ELU, Softplus, … as modules and methods (x.gelu()).
        let model = Sequential(Linear(784, 128), GELU(), Dropout(p: 0.1), Linear(128, 10))
        let optimizer = AdamW(model.parameters(), lr: 1e-3, weightDecay: 0.01)
        let scheduler = CosineAnnealingLR(optimizer, tMax: 10)   // StepLR, LinearLR, OneCycleLR, …

        // Data: datasets, transforms, a DataLoader with worker threads; the same batches for any
        // number of workers, resumable at a batch.
        let data = try FashionMNIST(root: "data", train: true, transform: ToTensor())
        let loader = DataLoader(data, batchSize: 64, shuffle: true, numWorkers: 1, seed: 42)

        // Checkpoints: safetensors under PyTorch's keys; PyTorch's own .pth files, read as data.
        try model.save(to: "model.safetensors")
        try model.load(from: "model.safetensors")     // or torch.save(model.state_dict())'s .pth, by content
        try Checkpoint.save(to: "run.ckpt", model: model, optimizer: optimizer, epoch: 3, batchIndex: 100)

        XCTAssertEqual(m[.all, 1..<3].toArray(), [Float](repeating: 0, count: 6))
        XCTAssert(positives.toArray().allSatisfy { $0 > 0 })
        XCTAssertEqual(joined.shape, [3, 8])
        XCTAssertEqual(scores.shape, [3, 3])
        XCTAssertEqual(w.grad?.shape, [10, 784])
        XCTAssertEqual(scheduler.lastLR, 1e-3)
        XCTAssertEqual(data.count, 60_000)
        XCTAssertEqual(loader.count, 938)
        XCTAssertEqual(try Checkpoint.load(from: "run.ckpt", model: model, optimizer: optimizer).epoch, 3)
    }
}
