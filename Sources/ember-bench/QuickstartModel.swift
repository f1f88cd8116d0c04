import Ember

/// The quickstart's model (784-512-512-10 MLP behind a Flatten), built from Ember's public
/// layers so that the benchmarks time what a user's training step runs.
func quickstartModel(seed: UInt64 = 0) -> Sequential {
    manualSeed(seed)
    return Sequential(Flatten(), Linear(28 * 28, 512), ReLU(), Linear(512, 512), ReLU(), Linear(512, 10))
}

/// Multiply-adds per sample in that model's forward pass (the weight gradients take as many).
let quickstartForwardMACs = 784 * 512 + 512 * 512 + 512 * 10
/// Multiply-adds per sample in its input gradients (layers 2 and 3; layer 1's input needs none).
let quickstartInputGradMACs = 512 * 512 + 512 * 10

/// FLOPs of the forward GEMMs for a batch (what a test pass runs).
func quickstartForwardFlops(batch: Int) -> Double { 2 * Double(batch * quickstartForwardMACs) }

/// FLOPs of a training step's eight GEMMs for a batch: forward, weight and input gradients.
func quickstartStepFlops(batch: Int) -> Double {
    2 * Double(batch * (2 * quickstartForwardMACs + quickstartInputGradMACs))
}
