import Foundation

/// Batches a dataset, optionally shuffled, with worker threads preparing batches ahead of
/// the training loop (PyTorch's `DataLoader`).
///
/// ```swift
/// let loader = DataLoader(trainingData, batchSize: 64, shuffle: true, seed: 42)
/// for (batch, (X, y)) in loader.enumerated() { … }   // X [64, 1, 28, 28], y [64] int64
/// ```
///
/// **Order and determinism.** Each pass (`for … in loader`) is one epoch and advances
/// `epoch`. With `shuffle`, epoch `e` visits the samples in a permutation derived from
/// `(seed, e)` only, so batch `i` of epoch `e` holds the same samples — and, with random
/// augmentations, the same augmented pixels — for any `numWorkers`.
///
/// **Resuming.** To continue a checkpointed run at batch `b` of epoch `e`, set
/// `loader.epoch = e` and iterate `loader.makeIterator(startingAtBatch: b)` (or
/// `loader.batches(startingAtBatch: b)`): it yields batches `b ..< count` of that epoch,
/// exactly as the uninterrupted run would have.
///
/// **Workers.** With `numWorkers > 0`, that many threads build batches into a bounded queue
/// holding at most `prefetchFactor × numWorkers` batches in flight. Leaving the loop early
/// (break, return, throw) stops and joins them when the iterator is released. Workers are
/// marked serial: every kernel they call runs on the worker alone, never forking an OpenMP
/// team of its own.
///
/// **Errors.** A failure while building a batch (a throwing transform, `Dataset.sample(at:)`)
/// stops a plain `for` loop with its message; iterate `batches()` and `try next()` to catch it.
public final class DataLoader<D: Dataset>: Sequence {
    /// A batch: the inputs `X` and the targets `y`.
    public typealias Element = (Tensor, Tensor)

    /// Where samples come from (PyTorch: `loader.dataset`).
    public let dataset: D
    /// Samples per batch.
    public let batchSize: Int
    /// Whether each epoch visits the samples in a new seeded permutation.
    public let shuffle: Bool
    /// Whether a last batch smaller than `batchSize` is dropped (PyTorch: `drop_last`).
    public let dropLast: Bool
    /// Threads building batches ahead (0: on the iterating thread) (PyTorch: `num_workers`).
    public let numWorkers: Int
    /// Batches in flight per worker (PyTorch: `prefetch_factor`).
    public let prefetchFactor: Int
    /// The seed of the shuffling order and of per-sample augmentation streams.
    public let seed: UInt64
    /// The epoch the next iteration runs (0 first); each `makeIterator` advances it.
    /// Set it to resume a run.
    public var epoch = 0
    /// Where the indices of each epoch come from instead of `shuffle` (e.g. a
    /// `DistributedSampler`); nil: the loader's own order.
    public let sampler: (any Sampler)?

    /// Builds batch `(X, y)` from sample indices; `sampleSeed` gives the augmentation seed
    /// of a sample index in this epoch.
    let fetch: (_ indices: [Int], _ epochSeed: UInt64) throws -> (Tensor, Tensor)

    /// Workers used when `numWorkers` is not given: 1 if a core is left over by the kernels'
    /// thread budget (`numCores() > numThreads()`), else 0.
    ///
    /// The fused decode is a few percent of a training epoch even on the training thread.
    /// When the kernels' OpenMP threads already occupy every core, a worker can only run by
    /// preempting one of them, which stalls the whole parallel region it belongs to; with a
    /// spare core, the worker hides the decode entirely (docs/DESIGN.md, "DataLoader workers").
    public static var defaultNumWorkers: Int { numCores() > numThreads() ? 1 : 0 }

    /// - Parameters:
    ///   - dataset: where samples come from.
    ///   - batchSize: samples per batch.
    ///   - shuffle: visit samples in a new seeded permutation every epoch.
    ///   - dropLast: drop the last batch when it is smaller than `batchSize`.
    ///   - numWorkers: threads preparing batches ahead (0: on the iterating thread).
    ///   - prefetchFactor: batches in flight per worker.
    ///   - seed: shuffling and augmentation seed (default: drawn from the global generator,
    ///     so `manualSeed` makes runs repeatable).
    ///   - sampler: the indices of each epoch (not with `shuffle`), e.g. a `DistributedSampler`.
    ///   - collate: turns a list of samples into `(X, y)`.
    ///
    /// PyTorch: `DataLoader(dataset, batch_size, shuffle, drop_last, num_workers, prefetch_factor, sampler=, collate_fn=)`.
    public convenience init(_ dataset: D, batchSize: Int = 1, shuffle: Bool = false, dropLast: Bool = false,
                numWorkers: Int? = nil, prefetchFactor: Int = 2, seed: UInt64? = nil, sampler: (any Sampler)? = nil,
                collate: @escaping ([(D.Sample, D.Target)]) throws -> (Tensor, Tensor)) {
        self.init(dataset, batchSize: batchSize, shuffle: shuffle, dropLast: dropLast, numWorkers: numWorkers,
                  prefetchFactor: prefetchFactor, seed: seed, collate: collate, fast: false, sampler: sampler)
    }

    init(_ dataset: D, batchSize: Int, shuffle: Bool, dropLast: Bool, numWorkers: Int?, prefetchFactor: Int,
         seed: UInt64?, collate: @escaping ([(D.Sample, D.Target)]) throws -> (Tensor, Tensor), fast: Bool,
         sampler: (any Sampler)? = nil) {
        precondition(sampler == nil || !shuffle, "DataLoader: sampler option is mutually exclusive with shuffle")
        self.sampler = sampler
        precondition(batchSize > 0, "DataLoader: batchSize should be a positive integer value, but got batchSize=\(batchSize)")
        precondition((numWorkers ?? 0) >= 0, "DataLoader: numWorkers option should be non-negative")
        precondition(prefetchFactor > 0, "DataLoader: prefetchFactor option should be positive")
        self.dataset = dataset
        self.batchSize = batchSize
        self.shuffle = shuffle
        self.dropLast = dropLast
        self.numWorkers = numWorkers ?? Self.defaultNumWorkers
        self.prefetchFactor = prefetchFactor
        self.seed = seed ?? UInt64(Ember.Generator.default.nextInt(below: Int.max))
        let batchFetcher = fast ? dataset as? BatchFetching : nil
        fetch = { indices, epochSeed in
            if let batchFetcher, let batch = try batchFetcher.fetchBatch(indices) { return batch }
            var samples: [(D.Sample, D.Target)] = []
            samples.reserveCapacity(indices.count)
            for i in indices {
                samples.append(try SampleRandom.with(seed: sampleSeed(epochSeed, i)) { try dataset.sample(at: i) })
            }
            return try collate(samples)
        }
    }

    /// Number of batches per epoch.
    public var count: Int {
        let n = sampler?.count ?? dataset.count
        return dropLast ? n / batchSize : (n + batchSize - 1) / batchSize
    }

    /// `count`: the number of batches is known in advance.
    public var underestimatedCount: Int { count }

    /// The sample indices of every batch of `epoch`, in order.
    public func batchIndices(epoch: Int) -> [[Int]] {
        let order = sampler?.indices()
            ?? (shuffle ? Ember.Generator(seed: epochSeed(epoch)).permutation(dataset.count) : Array(0..<dataset.count))
        let n = order.count
        return (0..<count).map { b in Array(order[(b * batchSize)..<Swift.min(n, (b + 1) * batchSize)]) }
    }

    func epochSeed(_ epoch: Int) -> UInt64 {
        Kernels.mix64(seed ^ Kernels.mix64(UInt64(bitPattern: Int64(epoch)) &+ 0x5851_F42D_4C95_7F2D))
    }

    /// Runs the next epoch from its first batch.
    ///
    /// PyTorch: `iter(loader)`.
    public func makeIterator() -> Iterator { makeIterator(startingAtBatch: 0) }

    /// Runs epoch `epoch` from batch `startingAtBatch` (for resuming), then advances `epoch`.
    public func makeIterator(startingAtBatch start: Int) -> Iterator {
        Iterator(batches(startingAtBatch: start))
    }

    /// Like `makeIterator(startingAtBatch:)`, but `next()` throws a worker's error instead
    /// of stopping the program:
    ///
    /// ```swift
    /// var it = loader.batches()
    /// while let (X, y) = try it.next() { … }
    /// ```
    public func batches(startingAtBatch start: Int = 0) -> Batches {
        precondition(start >= 0 && start <= count, "DataLoader: startingAtBatch \(start) is not in 0...\(count)")
        let e = epoch
        epoch += 1
        let run = EpochRun(batches: batchIndices(epoch: e), start: start, epochSeed: epochSeed(e),
                           fetch: fetch, workers: numWorkers, capacity: prefetchFactor * numWorkers)
        return Batches(run: run)
    }

    /// Iterates one epoch, throwing errors from `next()`.
    public struct Batches {
        let run: EpochRun
        /// The next batch, nil at the end of the epoch.
        public mutating func next() throws -> (Tensor, Tensor)? { try run.next() }
    }

    /// A plain-`for` iterator: an error while building a batch stops the program with its
    /// message (use `batches()` to handle it).
    public struct Iterator: IteratorProtocol {
        var inner: Batches
        init(_ inner: Batches) { self.inner = inner }
        /// The next batch, nil at the end of the epoch; stops the program if building it failed.
        public mutating func next() -> (Tensor, Tensor)? {
            do { return try inner.next() } catch {
                fatalError("DataLoader: building a batch failed: \(error) (iterate loader.batches() and use try to handle it)")
            }
        }
    }
}

func sampleSeed(_ epochSeed: UInt64, _ index: Int) -> UInt64 {
    Kernels.mix64(epochSeed &+ 0x9E37_79B9_7F4A_7C15 &* UInt64(index + 1))
}

extension DataLoader where D.Sample == Tensor, D.Target == Int {
    /// A loader whose batches are stacked images `[N, …]` and int64 labels `[N]`; datasets
    /// that implement `BatchFetching` build each batch in one go.
    ///
    /// PyTorch: `DataLoader(dataset, batch_size, shuffle, drop_last, num_workers, prefetch_factor, sampler=)`.
    public convenience init(_ dataset: D, batchSize: Int = 1, shuffle: Bool = false, dropLast: Bool = false,
                            numWorkers: Int? = nil, prefetchFactor: Int = 2, seed: UInt64? = nil,
                            sampler: (any Sampler)? = nil) {
        self.init(dataset, batchSize: batchSize, shuffle: shuffle, dropLast: dropLast, numWorkers: numWorkers,
                  prefetchFactor: prefetchFactor, seed: seed, collate: Collate.stack, fast: true, sampler: sampler)
    }
}

extension DataLoader where D.Sample == Tensor, D.Target == Tensor {
    /// A loader that stacks samples and targets (e.g. over a `TensorDataset`).
    ///
    /// PyTorch: `DataLoader(dataset, batch_size, shuffle, drop_last, num_workers, prefetch_factor, sampler=)`.
    public convenience init(_ dataset: D, batchSize: Int = 1, shuffle: Bool = false, dropLast: Bool = false,
                            numWorkers: Int? = nil, prefetchFactor: Int = 2, seed: UInt64? = nil,
                            sampler: (any Sampler)? = nil) {
        self.init(dataset, batchSize: batchSize, shuffle: shuffle, dropLast: dropLast, numWorkers: numWorkers,
                  prefetchFactor: prefetchFactor, seed: seed, collate: Collate.stack, fast: true, sampler: sampler)
    }
}

// MARK: - One epoch

/// One pass over the batches of an epoch. Owned by the iterator only; when the iterator is
/// released (loop ended or left early) `deinit` stops and joins the workers. The workers
/// hold the `BatchQueue`, never this object, so they cannot keep it alive.
final class EpochRun {
    let queue: BatchQueue
    var threads: [pthread_t] = []
    let end: Int
    var finished = false

    init(batches: [[Int]], start: Int, epochSeed: UInt64,
         fetch: @escaping ([Int], UInt64) throws -> (Tensor, Tensor), workers: Int, capacity: Int) {
        end = batches.count
        queue = BatchQueue(batches: batches, start: start, epochSeed: epochSeed, fetch: fetch, capacity: capacity)
        for _ in 0..<workers { threads.append(startThread(queue)) }
    }

    func next() throws -> (Tensor, Tensor)? {
        if finished { return nil }
        if threads.isEmpty {
            // No workers: build the batch here.
            guard let i = queue.claimInline() else { finished = true; return nil }
            do { return try queue.build(i) } catch { finished = true; throw error }
        }
        guard let result = queue.take() else { stop(); return nil }
        switch result {
        case .success(let batch): return batch
        case .failure(let error): stop(); throw error
        }
    }

    func stop() {
        finished = true
        queue.cancel()
        for t in threads { pthread_join(t, nil) }
        threads = []
    }

    deinit { stop() }
}

/// The state shared by the iterating thread and the workers, under one mutex: which batch
/// to build next, finished batches waiting to be taken, and the stop flag.
final class BatchQueue: @unchecked Sendable {
    let batches: [[Int]]
    let epochSeed: UInt64
    let fetch: ([Int], UInt64) throws -> (Tensor, Tensor)
    let capacity: Int
    var nextClaim: Int
    var nextTake: Int
    var done: [Int: Result<(Tensor, Tensor), Error>] = [:]
    var cancelled = false
    var mutex = pthread_mutex_t()
    var ready = pthread_cond_t()   // a batch finished (iterating thread waits)
    var room = pthread_cond_t()    // a batch was taken or the run cancelled (workers wait)

    init(batches: [[Int]], start: Int, epochSeed: UInt64, fetch: @escaping ([Int], UInt64) throws -> (Tensor, Tensor),
         capacity: Int) {
        self.batches = batches
        self.epochSeed = epochSeed
        self.fetch = fetch
        self.capacity = capacity
        nextClaim = start
        nextTake = start
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&ready, nil)
        pthread_cond_init(&room, nil)
    }

    deinit {
        pthread_cond_destroy(&ready)
        pthread_cond_destroy(&room)
        pthread_mutex_destroy(&mutex)
    }

    func build(_ i: Int) throws -> (Tensor, Tensor) { try fetch(batches[i], epochSeed) }

    func claimInline() -> Int? {
        guard nextClaim < batches.count else { return nil }
        defer { nextClaim += 1 }
        return nextClaim
    }

    /// Worker loop: claim the next batch while fewer than `capacity` are in flight, build
    /// it outside the lock, publish it.
    func work() {
        while true {
            pthread_mutex_lock(&mutex)
            while !cancelled && nextClaim < batches.count && nextClaim >= nextTake + capacity {
                pthread_cond_wait(&room, &mutex)
            }
            if cancelled || nextClaim >= batches.count {
                pthread_mutex_unlock(&mutex)
                return
            }
            let i = nextClaim
            nextClaim += 1
            pthread_mutex_unlock(&mutex)

            let result = Result { try build(i) }

            pthread_mutex_lock(&mutex)
            done[i] = result
            pthread_cond_broadcast(&ready)
            pthread_mutex_unlock(&mutex)
        }
    }

    /// The next batch in order (waiting for it), or nil at the end.
    func take() -> Result<(Tensor, Tensor), Error>? {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        guard nextTake < batches.count else { return nil }
        while done[nextTake] == nil { pthread_cond_wait(&ready, &mutex) }
        let r = done.removeValue(forKey: nextTake)!
        nextTake += 1
        pthread_cond_broadcast(&room)
        return r
    }

    func cancel() {
        pthread_mutex_lock(&mutex)
        cancelled = true
        done = [:]
        pthread_cond_broadcast(&room)
        pthread_mutex_unlock(&mutex)
    }
}

/// Starts a joinable thread running `queue.work()`; the thread retains the queue.
private func startThread(_ queue: BatchQueue) -> pthread_t {
    let context = Unmanaged.passRetained(queue).toOpaque()
    var tid = pthread_t()
    let rc = pthread_create(&tid, nil, { arg in
        let q = Unmanaged<BatchQueue>.fromOpaque(arg!).takeRetainedValue()
        Kernels.threadIsSerial = true   // its kernels never fork a team of their own
        q.work()
        return nil
    }, context)
    precondition(rc == 0, "DataLoader: cannot start a worker thread (error \(rc))")
    return tid
}
