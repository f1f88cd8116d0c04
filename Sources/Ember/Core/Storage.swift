import Foundation

/// A block of memory behind one or more tensors. When the last tensor lets go, the block
/// goes back to `BufferCache` instead of the system allocator, so a training step reuses the
/// previous step's pages rather than faulting in fresh ones.
final class Storage: @unchecked Sendable {
    let data: UnsafeMutableRawPointer
    let byteCount: Int
    /// Parameters whose deferred gradient still reads this memory: they compute it before
    /// anything writes here in place (DeferredGrad.swift). Empty almost always.
    var deferredGradReaders: [WeakTensor] = []
    /// Bumped by every in-place write to this memory (PyTorch's version counter, shared by
    /// all views): backward checks that what an op saved was not overwritten since.
    var version = 0
    /// This memory packed as a linear layer's weight for the GEMM engine, while unchanged
    /// (LinearAlgebra.swift): an evaluation pass packs each weight once, not once per batch.
    var packedWeight: PackedWeight?

    /// Uninitialised memory from the cache (callers overwrite every byte).
    init(byteCount: Int) {
        self.byteCount = byteCount
        self.data = BufferCache.shared.acquire(byteCount)
    }

    /// Zero-filled memory.
    convenience init(zeroedByteCount byteCount: Int) {
        self.init(byteCount: byteCount)
        memset(data, 0, byteCount)
    }

    deinit { BufferCache.shared.release(data, byteCount) }
}

/// A caching allocator: freed buffers are kept in per-size free lists and handed out again
/// for the same size. A training loop allocates the same sizes every step, so after the first
/// step every intermediate comes from here. The cache holds at most `limit` bytes; beyond
/// that buffers go back to the system. Thread-safe (DataLoader workers allocate batches).
public final class BufferCache: @unchecked Sendable {
    /// The process-wide cache every tensor allocates from.
    public static let shared = BufferCache()

    private var free: [Int: [UnsafeMutableRawPointer]] = [:]
    private var cachedBytes = 0
    private var lock = pthread_mutex_t()
    /// Upper bound on idle cached bytes (default 256 MiB).
    public var limit = 256 << 20
    /// Counters for benchmarks and tests: allocations served from the cache vs the system.
    public private(set) var hits = 0
    /// Allocations that had to go to the system.
    public private(set) var misses = 0
    /// Set to false to measure what the cache saves (every buffer then comes from malloc).
    public var isEnabled = true

    init() { pthread_mutex_init(&lock, nil) }

    // Sizes are rounded to 64 bytes: same-shape tensors share a free list, and every buffer
    // is 64-byte aligned for the vectorised kernels.
    private static func bucket(_ n: Int) -> Int { max(64, (n + 63) & ~63) }

    func acquire(_ byteCount: Int) -> UnsafeMutableRawPointer {
        let size = Self.bucket(byteCount)
        pthread_mutex_lock(&lock)
        // Popped in place: copying the list out and back cost O(list length) per call
        // (quadratic for a deep autograd graph's 10^6 freed scalars).
        if isEnabled, let p = free[size]?.popLast() {
            cachedBytes -= size
            hits += 1
            pthread_mutex_unlock(&lock)
            return p
        }
        misses += 1
        pthread_mutex_unlock(&lock)
        var p: UnsafeMutableRawPointer?
        guard posix_memalign(&p, 64, size) == 0, let p else {
            fatalError("Ember: out of memory allocating \(size) bytes")
        }
        return p
    }

    func release(_ p: UnsafeMutableRawPointer, _ byteCount: Int) {
        let size = Self.bucket(byteCount)
        pthread_mutex_lock(&lock)
        if isEnabled && cachedBytes + size <= limit {
            free[size, default: []].append(p)
            cachedBytes += size
            pthread_mutex_unlock(&lock)
            return
        }
        pthread_mutex_unlock(&lock)
        Foundation.free(p)
    }

    /// Returns every idle buffer to the system.
    public func empty() {
        pthread_mutex_lock(&lock)
        let lists = free
        free = [:]
        cachedBytes = 0
        pthread_mutex_unlock(&lock)
        for list in lists.values { for p in list { Foundation.free(p) } }
    }

    /// Bytes currently idle in the cache.
    public var idleBytes: Int {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return cachedBytes
    }

    /// Resets the hit/miss counters.
    public func resetCounters() {
        pthread_mutex_lock(&lock)
        hits = 0
        misses = 0
        pthread_mutex_unlock(&lock)
    }
}
