import Ember

/// Deals a dataset's indices to `numReplicas` ranks (PyTorch's `DistributedSampler`): rank r
/// takes positions r, r + numReplicas, r + 2·numReplicas, … of the epoch's order, so the
/// ranks' batches together cover the dataset once.
///
/// - The order is `0 ..< n`, or with `shuffle` a permutation drawn from `seed + epoch`
///   (Ember's generator: the same on every rank, not torch's `randperm` bits). Call
///   `setEpoch(_:)` before each epoch, or every epoch repeats the same order.
/// - Without `dropLast`, the order is padded with its own first indices up to a multiple of
///   `numReplicas` (wrapping again if needed), so every rank gets `ceil(n / numReplicas)`
///   indices and a few samples are seen twice. With `dropLast`, the tail is dropped instead:
///   `floor(n / numReplicas)` each.
///
/// ```swift
/// let sampler = try DistributedSampler(data, numReplicas: group.worldSize, rank: group.rank, shuffle: true, seed: 0)
/// let loader = DataLoader(data, batchSize: 64 / group.worldSize, sampler: sampler)
/// for epoch in 0..<epochs { sampler.setEpoch(epoch); for (X, y) in loader { … } }
/// ```
public final class DistributedSampler: Sampler {
    public let datasetCount: Int
    public let numReplicas: Int
    public let rank: Int
    public let shuffle: Bool
    public let seed: UInt64
    public let dropLast: Bool
    /// The epoch whose order `indices()` returns.
    public private(set) var epoch = 0
    /// Indices per rank per epoch (PyTorch's `num_samples`).
    public let numSamples: Int
    /// numSamples × numReplicas.
    public var totalSize: Int { numSamples * numReplicas }

    public convenience init<D: Dataset>(_ dataset: D, numReplicas: Int, rank: Int, shuffle: Bool = true, seed: UInt64 = 0,
                            dropLast: Bool = false) throws {
        try self.init(count: dataset.count, numReplicas: numReplicas, rank: rank, shuffle: shuffle, seed: seed,
                      dropLast: dropLast)
    }

    /// A sampler over `0 ..< count`.
    public init(count: Int, numReplicas: Int, rank: Int, shuffle: Bool = true, seed: UInt64 = 0,
                dropLast: Bool = false) throws {
        guard numReplicas > 0 else {
            throw DistributedError.invalidArgument(op: "DistributedSampler", message:
                "numReplicas should be a positive integer, got \(numReplicas)")
        }
        guard rank >= 0 && rank < numReplicas else {
            throw DistributedError.invalidArgument(op: "DistributedSampler", message:
                "invalid rank \(rank), rank should be in the interval [0, \(numReplicas - 1)]")
        }
        guard count >= 0 else {
            throw DistributedError.invalidArgument(op: "DistributedSampler", message: "negative dataset size \(count)")
        }
        datasetCount = count
        self.numReplicas = numReplicas
        self.rank = rank
        self.shuffle = shuffle
        self.seed = seed
        self.dropLast = dropLast
        // PyTorch: with drop_last, ceil((n - R) / R) = floor(n / R) when n % R != 0.
        numSamples = dropLast ? count / numReplicas : (count + numReplicas - 1) / numReplicas
    }

    /// Sets the epoch whose order the next pass uses (PyTorch's `set_epoch`).
    public func setEpoch(_ epoch: Int) { self.epoch = epoch }

    public var count: Int { numSamples }

    public func indices() -> [Int] {
        var order = shuffle ? Generator(seed: seed &+ UInt64(bitPattern: Int64(epoch))).permutation(datasetCount)
                            : Array(0..<datasetCount)
        if dropLast {
            order.removeLast(order.count - totalSize)
        } else if totalSize > order.count, !order.isEmpty {
            let base = order
            var k = 0
            while order.count < totalSize {
                order.append(base[k % base.count])
                k += 1
            }
        }
        return stride(from: rank, to: totalSize, by: numReplicas).map { order[$0] }
    }
}
