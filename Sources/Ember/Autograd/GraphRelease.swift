#if canImport(Glibc)
import Glibc
#endif

/// Frees autograd graphs of any depth with constant stack use.
///
/// A chain y = f(f(…f(x))) is Tensor → Node → inputs/edges/closure → Tensor → Node …; released
/// naturally, each Node's deinit releases the next from inside itself, and a chain of 10^5 ops
/// overflows the stack. Instead, a Node's deinit hands its strong references to this
/// per-thread list. Only the outermost release on a thread drains it, in a loop; a release
/// nested inside that drain only appends and returns.
final class GraphRelease {
    typealias Backward = (Tensor) -> [Tensor?]
    private var pending: [(inputs: [Tensor], edges: [Node?], backward: Backward?)] = []
    private var draining = false

    /// Per thread (tensors are freed on DataLoader workers too); the list is always empty
    /// between releases, and the box is released when its thread exits.
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let rc = pthread_key_create(&key) { box in
            if let box { Unmanaged<GraphRelease>.fromOpaque(box).release() }
        }
        precondition(rc == 0, "pthread_key_create failed: \(rc)")
        return key
    }()

    private static var current: GraphRelease {
        if let box = pthread_getspecific(key) { return Unmanaged<GraphRelease>.fromOpaque(box).takeUnretainedValue() }
        let r = GraphRelease()
        pthread_setspecific(key, Unmanaged.passRetained(r).toOpaque())
        return r
    }

    /// Takes a dying node's references (leaving them empty, so that the node's own release
    /// frees nothing) and frees them here, or later in the outermost call's loop.
    static func release(inputs: inout [Tensor], edges: inout [Node?], backward: inout Backward?) {
        var item: (inputs: [Tensor], edges: [Node?], backward: Backward?)? = (inputs, edges, backward)
        inputs = []
        edges = []
        backward = nil
        let r = current
        if r.draining {
            r.pending.append(item!)
            return
        }
        r.draining = true
        while item != nil {
            item = nil   // may free nodes, whose deinits append to `pending`
            item = r.pending.popLast()
        }
        r.draining = false
    }
}
