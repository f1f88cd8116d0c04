/// A collection of (sample, target) pairs addressed by index, PyTorch's map-style
/// `Dataset`.
///
/// Conformers provide `count` and a subscript. Loading that can fail (a file read, a
/// transform that throws) belongs in `sample(at:)`, which the `DataLoader` calls so that the
/// error reaches the caller; the subscript is the convenient, non-throwing spelling that
/// stops the program on such an error.
public protocol Dataset {
    associatedtype Sample
    associatedtype Target
    /// Number of samples.
    var count: Int { get }
    /// Sample and target at `index` (0 ..< count).
    subscript(index: Int) -> (Sample, Target) { get }
    /// Sample and target at `index`, throwing instead of stopping on a failure.
    func sample(at index: Int) throws -> (Sample, Target)
}

extension Dataset {
    /// `self[index]`: the default for datasets whose loading cannot fail.
    public func sample(at index: Int) throws -> (Sample, Target) { self[index] }
}

/// A dataset that can build a whole batch for a list of indices in one go, without going
/// through one sample at a time (e.g. one gather of uint8 images into float32). The
/// `DataLoader` uses it when no custom `collate` is given.
public protocol BatchFetching {
    /// `(X, y)` for `indices`, exactly what per-sample access followed by the default
    /// collate would give, or nil when this dataset cannot take the fast path (e.g. its
    /// transform is not one it knows how to fuse).
    func fetchBatch(_ indices: [Int]) throws -> (Tensor, Tensor)?
}

/// Samples are rows of tensors sharing dim 0 (PyTorch's `TensorDataset` with two tensors).
///
/// ```swift
/// let ds = TensorDataset(Tensor.randn([100, 3]), Tensor.randint(0, 2, [100]))
/// let (x, y) = ds[0]   // x: [3], y: [] int64
/// ```
public struct TensorDataset: Dataset, BatchFetching {
    /// The samples, rows along dim 0.
    public let data: Tensor
    /// The targets, one row per sample.
    public let targets: Tensor

    /// Rows of `data` paired with rows of `targets`; both must have the same size along dim 0 (PyTorch: `TensorDataset(data, targets)`).
    public init(_ data: Tensor, _ targets: Tensor) {
        precondition(data.ndim >= 1 && targets.ndim >= 1 && data.shape[0] == targets.shape[0],
                     "TensorDataset: size mismatch between tensors (\(data.shape) and \(targets.shape))")
        self.data = data
        self.targets = targets
    }

    /// The number of rows.
    public var count: Int { data.shape[0] }

    /// Row `index` of `data` and of `targets`, detached from autograd.
    public subscript(index: Int) -> (Tensor, Tensor) {
        (data[index].detach(), targets[index].detach())
    }

    /// Rows `indices` of both tensors, one copy per row.
    public func fetchBatch(_ indices: [Int]) throws -> (Tensor, Tensor)? {
        (gatherRows(data, indices), gatherRows(targets, indices))
    }
}

/// Rows `indices` of `t` along dim 0, in one copy per row.
func gatherRows(_ t: Tensor, _ indices: [Int]) -> Tensor {
    let t = t.contiguous()
    let rowBytes = t.shape.dropFirst().reduce(1, *) * t.dtype.itemSize
    let out = Tensor(empty: [indices.count] + t.shape.dropFirst(), dtype: t.dtype)
    for (i, r) in indices.enumerated() {
        precondition(r >= 0 && r < t.shape[0], "index \(r) is out of bounds for dataset of size \(t.shape[0])")
        out.raw.advanced(by: i * rowBytes).copyMemory(from: t.raw.advanced(by: r * rowBytes), byteCount: rowBytes)
    }
    return out
}

/// PyTorch's `default_collate` for the common cases: stacks sample tensors along a new
/// dim 0 and makes int64 targets from Ints. Samples of different shapes or dtypes throw
/// (`EmberError.shapeMismatch`), as PyTorch raises: an image folder without a `Resize`.
public enum Collate {
    /// `[N, …]` images and `[N]` int64 labels.
    ///
    /// PyTorch: `torch.utils.data.default_collate`.
    public static func stack(_ batch: [(Tensor, Int)]) throws -> (Tensor, Tensor) {
        (try stackSamples(batch.map { $0.0 }), Tensor(batch.map { $0.1 }))
    }

    /// Stacks both samples and targets.
    ///
    /// PyTorch: `torch.utils.data.default_collate`.
    public static func stack(_ batch: [(Tensor, Tensor)]) throws -> (Tensor, Tensor) {
        (try stackSamples(batch.map { $0.0 }), try stackSamples(batch.map { $0.1 }))
    }

    /// One copy per sample into a preallocated batch (cat of unsqueezed views would record
    /// autograd nodes and copy twice).
    static func stackSamples(_ samples: [Tensor]) throws -> Tensor {
        precondition(!samples.isEmpty, "collate: empty batch")
        let first = samples[0]
        for (i, s) in samples.enumerated() where s.shape != first.shape || s.dtype != first.dtype {
            throw EmberError.shapeMismatch(op: "collate", message: s.shape != first.shape
                ? "stack expects each tensor to be equal size, but got \(first.shape) at entry 0 and \(s.shape) at entry \(i)"
                : "stack expects each tensor to have the same dtype, but got \(first.dtype) at entry 0 and \(s.dtype) at entry \(i)")
        }
        let out = Tensor(empty: [samples.count] + first.shape, dtype: first.dtype)
        let bytes = first.count * first.dtype.itemSize
        for (i, s) in samples.enumerated() {
            out.raw.advanced(by: i * bytes).copyMemory(from: s.contiguous().raw, byteCount: bytes)
        }
        return out
    }
}
