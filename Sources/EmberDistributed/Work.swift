import Foundation

/// A collective in flight (PyTorch's `Work`): `wait()` blocks until it is done on this rank
/// and throws its error. Waiting is bounded by the process group's timeout: a rank that died,
/// threw or stopped calling collectives cannot leave the others hanging.
public final class Work: @unchecked Sendable {
    /// The collective's name, as in messages (`"allReduce"`).
    public let name: String
    let rank: Int
    private var mutex = pthread_mutex_t()
    private var cond = pthread_cond_t()
    private var done = false
    private var code: Int32 = 0
    /// Monotonic times (seconds): queued, started on the communication thread, finished.
    public let submittedAt: Double
    public private(set) var startedAt: Double?
    public private(set) var finishedAt: Double?
    /// Runs on the communication thread after the MPI call succeeded (copies results back).
    var then: (() -> Void)?

    /// Why the collective was refused before it started (the group was destroyed).
    private var refusal: DistributedError?

    init(name: String, rank: Int, completed: Bool = false) {
        self.name = name
        self.rank = rank
        submittedAt = monotonicSeconds()
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&cond, nil)
        if completed { (startedAt, finishedAt, done) = (submittedAt, submittedAt, true) }
    }

    /// A collective that never runs: `wait()` throws `error` at once.
    convenience init(name: String, rank: Int, refused error: DistributedError) {
        self.init(name: name, rank: rank, completed: true)
        refusal = error
    }

    deinit {
        pthread_cond_destroy(&cond)
        pthread_mutex_destroy(&mutex)
    }

    /// Whether the collective has finished (successfully or not).
    public var isCompleted: Bool {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return done
    }

    func markStarted() {
        pthread_mutex_lock(&mutex)
        startedAt = monotonicSeconds()
        pthread_mutex_unlock(&mutex)
    }

    func complete(_ code: Int32) {
        if code == 0 { then?() }
        pthread_mutex_lock(&mutex)
        self.code = code
        finishedAt = monotonicSeconds()
        done = true
        pthread_cond_broadcast(&cond)
        pthread_mutex_unlock(&mutex)
    }

    /// Waits for the collective. Throws `DistributedError.mpi` if MPI failed. If it does not
    /// finish within `ProcessGroup.timeout`, the rank cannot tell whether its peers will ever
    /// join, so it prints which rank and collective timed out and ends the process with exit
    /// code 3; mpirun then ends the other ranks.
    public func wait() throws {
        if let refusal { throw refusal }
        let timeout = ProcessGroup.timeout
        let deadline = monotonicSeconds() + timeout
        pthread_mutex_lock(&mutex)
        while !done {
            let left = deadline - monotonicSeconds()
            if left <= 0 {
                pthread_mutex_unlock(&mutex)
                ProcessGroup.exitForTimeout(rank: rank, collective: name, seconds: timeout)
            }
            var ts = timespec()
            clock_gettime(CLOCK_REALTIME, &ts)
            let slice = min(left, 1.0)
            let ns = Int(ts.tv_nsec) + Int(slice * 1e9)
            ts.tv_sec += ns / 1_000_000_000
            ts.tv_nsec = ns % 1_000_000_000
            pthread_cond_timedwait(&cond, &mutex, &ts)
        }
        let code = self.code
        pthread_mutex_unlock(&mutex)
        if code != 0 { throw DistributedError.mpi(rank: rank, call: name, message: mpiErrorString(code)) }
    }
}

/// Errors of EmberDistributed. Messages name the rank.
public enum DistributedError: Error, CustomStringConvertible, Equatable {
    /// MPI returned an error from a call.
    case mpi(rank: Int, call: String, message: String)
    /// A collective or wrapper was used wrongly (shapes, dtypes, ranks).
    case invalidArgument(op: String, message: String)
    /// DistributedDataParallel: the previous backward did not reduce every parameter.
    case unfinishedReduction(rank: Int, message: String)

    public var description: String {
        switch self {
        case .mpi(let rank, let call, let message): return "rank \(rank): \(call) failed: \(message)"
        case .invalidArgument(let op, let message): return "\(op): \(message)"
        case .unfinishedReduction(let rank, let message): return "rank \(rank): DistributedDataParallel: \(message)"
        }
    }
}
