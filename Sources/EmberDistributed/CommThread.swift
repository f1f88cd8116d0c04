import CEmberMPI
import Foundation

/// The one thread that talks to MPI. It calls MPI_Init_thread (FUNNELED), then runs the
/// collectives handed to it in the order they were submitted — the same order on every rank,
/// which MPI requires — and finally MPI_Finalize. Submitting returns at once with a `Work`;
/// the training thread meanwhile goes on with backward: Open MPI has no progress thread of its
/// own, so a collective advances while this thread sits in it.
final class CommThread: @unchecked Sendable {
    struct Job {
        let work: Work
        let body: () -> Int32
    }

    private var queue: [Job] = []
    private var stopping = false
    private var mutex = pthread_mutex_t()
    private var wake = pthread_cond_t()
    private var thread = pthread_t()

    /// Starts the thread and initialises MPI on it; returns (rank, size) or the MPI error.
    static func start() throws -> (CommThread, rank: Int, size: Int) {
        let box = InitBox()
        let comm = CommThread(box: box)
        pthread_mutex_lock(&box.mutex)
        while !box.done { pthread_cond_wait(&box.cond, &box.mutex) }
        pthread_mutex_unlock(&box.mutex)
        if box.rc != 0 {
            throw DistributedError.mpi(rank: -1, call: "MPI_Init_thread", message: mpiErrorString(box.rc))
        }
        comm.rankValue = Int(box.rank)
        return (comm, Int(box.rank), Int(box.size))
    }

    private var rankValue = -1

    private init(box: InitBox) {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&wake, nil)
        let context = Unmanaged.passRetained(Start(comm: self, box: box)).toOpaque()
        let rc = pthread_create(&thread, nil, { arg in
            let start = Unmanaged<Start>.fromOpaque(arg!).takeRetainedValue()
            start.comm.main(start.box)
            return nil
        }, context)
        precondition(rc == 0, "EmberDistributed: cannot start the communication thread (error \(rc))")
    }

    /// Queues `body` (an MPI call returning its error code) and returns its handle.
    func submit(_ name: String, _ body: @escaping () -> Int32) -> Work {
        pthread_mutex_lock(&mutex)
        if stopping {   // after destroy(): nothing runs the queue any more
            pthread_mutex_unlock(&mutex)
            return Work(name: name, rank: rankValue, refused: .invalidArgument(op: name, message:
                "the process group was destroyed"))
        }
        let work = Work(name: name, rank: rankValue)
        queue.append(Job(work: work, body: body))
        pthread_cond_signal(&wake)
        pthread_mutex_unlock(&mutex)
        return work
    }

    /// Whether no collective is queued or running.
    var isIdle: Bool {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return queue.isEmpty && !busy
    }
    private var busy = false

    /// Runs the queued work, then MPI_Finalize, and joins the thread.
    func finish() {
        pthread_mutex_lock(&mutex)
        if stopping {   // a second destroy()
            pthread_mutex_unlock(&mutex)
            return
        }
        stopping = true
        pthread_cond_signal(&wake)
        pthread_mutex_unlock(&mutex)
        pthread_join(thread, nil)
    }

    private func main(_ box: InitBox) {
        // Opt-in (EMBER_COMM_SLICE_US=100, say): a short slice lets a collective queued during
        // backward start at once instead of when backward's thread gives up its core. With
        // more ranks than cores it starts early but then polls for peers that are not
        // running, and steps got slower (docs/DISTRIBUTED.md), hence off by default.
        let sliceMicroseconds = ProcessInfo.processInfo.environment["EMBER_COMM_SLICE_US"].flatMap(UInt64.init) ?? 0
        if sliceMicroseconds > 0 { _ = ember_mpi_request_short_slice(sliceMicroseconds * 1000) }
        var rank: Int32 = 0, size: Int32 = 0, provided: Int32 = 0
        let rc = ember_mpi_init(&rank, &size, &provided)
        pthread_mutex_lock(&box.mutex)
        (box.rc, box.rank, box.size, box.done) = (rc, rank, size, true)
        pthread_cond_signal(&box.cond)
        pthread_mutex_unlock(&box.mutex)
        guard rc == 0 else { return }
        while true {
            pthread_mutex_lock(&mutex)
            while queue.isEmpty && !stopping { pthread_cond_wait(&wake, &mutex) }
            if queue.isEmpty {
                pthread_mutex_unlock(&mutex)
                break
            }
            let job = queue.removeFirst()
            busy = true
            pthread_mutex_unlock(&mutex)

            job.work.markStarted()
            let code = job.body()
            job.work.complete(code)

            pthread_mutex_lock(&mutex)
            busy = false
            pthread_mutex_unlock(&mutex)
        }
        _ = ember_mpi_finalize()
    }

    private final class Start {
        let comm: CommThread
        let box: InitBox
        init(comm: CommThread, box: InitBox) { self.comm = comm; self.box = box }
    }

    private final class InitBox: @unchecked Sendable {
        var mutex = pthread_mutex_t()
        var cond = pthread_cond_t()
        var done = false
        var rc: Int32 = 0, rank: Int32 = 0, size: Int32 = 0
        init() {
            pthread_mutex_init(&mutex, nil)
            pthread_cond_init(&cond, nil)
        }
    }
}

func mpiErrorString(_ code: Int32) -> String {
    var buf = [CChar](repeating: 0, count: 512)
    ember_mpi_error_string(&buf, Int32(buf.count), code)
    return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Monotonic seconds, for timeouts and the communication timeline.
func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
