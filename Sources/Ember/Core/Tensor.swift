/// An n-dimensional array of `float32`, `int64` or `bool` with reverse-mode autograd.
///
/// A tensor is a window on a `Storage`: an offset, a shape and element strides, as PyTorch's.
/// Views (`reshaped` where strides allow, `transposed`, `permuted`, `expanded`, `narrowed`,
/// `select`, subscripts, …) share the storage: writes through one are seen by all. Ops read
/// strided inputs directly or through a `contiguous()` copy, and always return contiguous
/// results. A `Tensor` is a reference type, like PyTorch's: a parameter updated in place by an
/// optimizer is seen by every holder.
///
/// Thread safety: a tensor may be read from any thread at once (ops, `toArray()`, passing it
/// between tasks). Writes — in-place ops, `grad`, `requiresGrad`, backward — need the
/// caller's ordering, as with any shared mutable buffer; so does the first use of a view
/// after an in-place write to its base, which remakes the view's autograd node.
public final class Tensor: @unchecked Sendable {
    /// The size of each dimension: `[64, 1, 28, 28]`.
    public let shape: [Int]
    /// Element strides of each dimension in the storage (PyTorch's `stride()`); 0 along
    /// expanded dims.
    public let strides: [Int]
    /// The element type (PyTorch: `tensor.dtype`).
    public let dtype: DType
    let storage: Storage
    /// Offset of the first element in the storage, in elements (PyTorch's `storage_offset()`).
    public let storageOffset: Int
    /// Number of elements.
    public let count: Int
    /// Whether the elements lie in row-major order with no gaps (PyTorch's `is_contiguous()`).
    public let isContiguous: Bool
    /// Whether this tensor was made as a view of another (in-place writes through it reach
    /// that tensor's memory).
    let isView: Bool

    /// The recorded operation that produced this tensor (nil for leaves). A view's node is
    /// remade over its base's when an in-place op has rewritten the base's history since
    /// (Autograd/ViewHistory.swift).
    var gradFn: Node? {
        get {
            if let viewOrigin, viewOrigin.base.gradFn !== viewOrigin.baseNode { refreshViewNode(viewOrigin) }
            return node
        }
        set { replaceNode(newValue) }
    }
    /// `gradFn` as last set.
    var node: Node?
    /// Whether backward keeps this non-leaf's gradient in `grad` (`retainGrad()`).
    var retainsGrad = false
    /// For a view made while grad mode was on: the tensor whose memory it windows.
    var viewOrigin: ViewOrigin?
    private var leafRequiresGrad = false

    /// The accumulated gradient of a leaf after `backward()`. It *adds up* across backward
    /// calls (PyTorch semantics) until cleared, usually by `optimizer.zeroGrad()`.
    ///
    /// For a linear layer's weight trained by plain SGD, backward leaves the gradient unformed
    /// and `step()` applies it inside one GEMM; reading `grad` forms it then (one GEMM, the
    /// same values) — see DeferredGrad.swift.
    public var grad: Tensor? {
        get {
            materializeDeferredGrad()   // no-op unless the gradient is deferred
            return accumulatedGrad
        }
        set {
            if let newValue {
                precondition(newValue.shape == shape,
                             "grad: attempting to assign a gradient of size \(newValue.shape) to a tensor of size \(shape)")
                precondition(newValue.dtype == dtype,
                             "grad: assigned grad has data of type \(newValue.dtype), but the tensor is \(dtype)")
            }
            dropDeferredGrad()
            accumulatedGrad = newValue
        }
    }
    /// `grad`'s value, when it has been computed.
    var accumulatedGrad: Tensor?
    /// `grad` kept as the two factors of a linear layer's weight gradient, not yet multiplied
    /// (DeferredGrad.swift).
    var deferredGrad: DeferredLinearGrad?
    /// Set by an optimizer that can apply a deferred gradient itself (plain SGD).
    var defersLinearGrad = false
    /// Hooks run once per backward pass after this leaf's gradient is complete
    /// (`registerPostAccumulateGradHook`, Autograd/GradHooks.swift).
    var postAccumulateGradHooks: [(id: Int, hook: (Tensor) -> Void)] = []
    /// A leaf's hooks on its gradient (`registerHook`), run on each pass's whole gradient
    /// before it is added into `grad`. A non-leaf's are on its node.
    var gradHooks: [(id: Int, hook: (Tensor) -> Tensor?)] = []

    /// A contiguous tensor over `storage` from `offset` on.
    init(storage: Storage, shape: [Int], dtype: DType, offset: Int = 0) {
        precondition(shape.count <= maxDims, "Tensor: at most \(maxDims) dimensions are supported, got \(shape.count)")
        self.storage = storage
        self.shape = shape
        self.strides = contiguousStrides(shape)
        self.dtype = dtype
        self.storageOffset = offset
        self.count = shape.reduce(1, *)
        self.isContiguous = true
        self.isView = false
    }

    /// A view with arbitrary strides (callers keep every reachable element inside `storage`).
    init(storage: Storage, shape: [Int], strides: [Int], dtype: DType, offset: Int, isView: Bool = true) {
        precondition(shape.count <= maxDims, "Tensor: at most \(maxDims) dimensions are supported, got \(shape.count)")
        self.storage = storage
        self.shape = shape
        self.strides = strides
        self.dtype = dtype
        self.storageOffset = offset
        self.count = shape.reduce(1, *)
        self.isContiguous = stridesAreContiguous(shape, strides)
        self.isView = isView
    }

    /// A tensor with uninitialised contents (every op overwrites them).
    convenience init(empty shape: [Int], dtype: DType = .float32) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Trying to create tensor with negative dimension: \(shape)")
        let n = shape.reduce(1, *)
        self.init(storage: Storage(byteCount: Swift.max(n, 1) * dtype.itemSize), shape: shape, dtype: dtype)
    }

    /// Whether gradients flow to this tensor. Set it on leaves (parameters, inputs);
    /// results of recorded operations report true.
    public var requiresGrad: Bool {
        get { gradFn != nil || leafRequiresGrad }
        set {
            precondition(gradFn == nil || newValue,
                         "requiresGrad: can only change the flag of leaf tensors; use detach()")
            precondition(!newValue || dtype == .float32,
                         "requiresGrad: only float32 tensors can require gradients, got \(dtype)")
            leafRequiresGrad = newValue
        }
    }

    /// Sets `requiresGrad` and returns self, for chaining: `Tensor.randn([3]).requiringGrad()`.
    ///
    /// PyTorch: `requires_grad_()`.
    @discardableResult
    public func requiringGrad(_ flag: Bool = true) -> Tensor {
        requiresGrad = flag
        return self
    }

    /// True for tensors created by the user rather than by a recorded op.
    public var isLeaf: Bool { gradFn == nil }

    /// Number of dimensions.
    public var ndim: Int { shape.count }
    /// `shape`, under PyTorch's other name.
    public func size(_ dim: Int) -> Int {
        precondition(ndim > 0, "size: dimension specified as \(dim) but tensor has no dimensions")
        return shape[normalizeDim(dim, ndim, op: "size")]
    }
    /// Always `.cpu`.
    public var device: Device { .cpu }

    // MARK: Raw access (internal)

    /// The first element, whatever the strides: for kernels that walk strides themselves.
    var base: UnsafeMutableRawPointer { storage.data + storageOffset * dtype.itemSize }
    /// The elements as one flat row-major buffer: only for contiguous tensors (ops call
    /// `contiguous()` first), so a forgotten call stops here instead of reading wrong data.
    var raw: UnsafeMutableRawPointer {
        precondition(isContiguous, "internal error: flat access to a non-contiguous tensor \(shape) strides \(strides)")
        return base
    }
    /// The elements as Float, Int64 or bytes: only for tensors of that dtype, so an op that
    /// forgot to check one stops here instead of letting C read 4 or 8 bytes per element of a
    /// 1-byte buffer.
    var f32: UnsafeMutablePointer<Float> {
        precondition(dtype == .float32, "internal error: float32 access to a \(dtype) tensor of shape \(shape)")
        return raw.assumingMemoryBound(to: Float.self)
    }
    var i64: UnsafeMutablePointer<Int64> {
        precondition(dtype == .int64, "internal error: int64 access to a \(dtype) tensor of shape \(shape)")
        return raw.assumingMemoryBound(to: Int64.self)
    }
    var u8: UnsafeMutablePointer<UInt8> {
        precondition(dtype == .bool || dtype == .uint8, "internal error: byte access to a \(dtype) tensor of shape \(shape)")
        return raw.assumingMemoryBound(to: UInt8.self)
    }
}

/// The most dims a tensor may have (the C core's EMBER_MAX_DIMS).
let maxDims = 16

/// Row-major strides of a contiguous tensor of `shape`.
/// The offset, in elements from the first, of every index of `shape` under `strides`, in
/// row-major order (a stride of 0 repeats offsets).
func stridedOffsets(shape: [Int], strides: [Int]) -> [Int] {
    var offsets = [0]
    for (n, stride) in zip(shape, strides) {
        offsets = offsets.flatMap { base in (0..<n).map { base + $0 * stride } }
    }
    return offsets
}

func contiguousStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var s = 1
    for d in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[d] = s
        s *= Swift.max(shape[d], 1)
    }
    return strides
}

/// Whether the elements fill one gapless block of memory in some order of the dims (a
/// transposed or permuted contiguous tensor): elementwise ops can then walk that block flat.
func stridesAreDense(_ shape: [Int], _ strides: [Int]) -> Bool {
    let dims = shape.indices.filter { shape[$0] != 1 }.sorted { strides[$0] < strides[$1] }
    var expect = 1
    for d in dims {
        if strides[d] != expect { return false }
        expect *= shape[d]
    }
    return true
}

/// Whether `strides` walk `shape` in row-major order with no gaps (size-1 dims' strides
/// do not matter, as in PyTorch).
func stridesAreContiguous(_ shape: [Int], _ strides: [Int]) -> Bool {
    var expect = 1
    for d in stride(from: shape.count - 1, through: 0, by: -1) where shape[d] != 1 {
        if shape[d] == 0 { return true }
        if strides[d] != expect { return false }
        expect *= shape[d]
    }
    return true
}

// MARK: - Creation

extension Tensor {
    /// A float32 tensor from values in row-major order; `shape` defaults to `[values.count]`.
    ///
    /// PyTorch: `torch.tensor(values).reshape(shape)`.
    public convenience init(_ values: [Float], shape: [Int]? = nil) {
        let shape = shape ?? [values.count]
        precondition(shape.reduce(1, *) == values.count,
                     "Tensor: \(values.count) values cannot fill shape \(shape)")
        self.init(empty: shape, dtype: .float32)
        values.withUnsafeBufferPointer { f32.update(from: $0.baseAddress!, count: values.count) }
    }

    /// A float32 tensor from Doubles (converted), so that `Tensor([0.5, 1.5])` reads naturally.
    ///
    /// PyTorch: `torch.tensor(values, dtype=torch.float32)`.
    public convenience init(_ values: [Double], shape: [Int]? = nil) {
        self.init(values.map { Float($0) }, shape: shape)
    }

    /// An int64 tensor (e.g. class labels).
    ///
    /// PyTorch: `torch.tensor(values)` (int64).
    public convenience init(_ values: [Int], shape: [Int]? = nil) {
        let shape = shape ?? [values.count]
        precondition(shape.reduce(1, *) == values.count,
                     "Tensor: \(values.count) values cannot fill shape \(shape)")
        self.init(empty: shape, dtype: .int64)
        for (i, v) in values.enumerated() { i64[i] = Int64(v) }
    }

    /// A bool tensor.
    ///
    /// PyTorch: `torch.tensor(values)` (bool).
    public convenience init(_ values: [Bool], shape: [Int]? = nil) {
        let shape = shape ?? [values.count]
        precondition(shape.reduce(1, *) == values.count,
                     "Tensor: \(values.count) values cannot fill shape \(shape)")
        self.init(empty: shape, dtype: .bool)
        for (i, v) in values.enumerated() { u8[i] = v ? 1 : 0 }
    }

    /// A 2-D float32 tensor from rows.
    ///
    /// PyTorch: `torch.tensor(rows)`.
    public convenience init(_ rows: [[Float]]) {
        let cols = rows.first?.count ?? 0
        precondition(rows.allSatisfy { $0.count == cols }, "Tensor: rows of different lengths")
        self.init(rows.flatMap { $0 }, shape: [rows.count, cols])
    }

    /// A 0-dimensional float32 tensor.
    ///
    /// PyTorch: `torch.tensor(value)`.
    public convenience init(scalar: Float) {
        self.init([scalar], shape: [])
    }
    /// A 0-dimensional float32 tensor (`Tensor(0.5)`, PyTorch's `torch.tensor(0.5)`).
    public convenience init(_ value: Double) { self.init([Float(value)], shape: []) }
    /// A 0-dimensional int64 tensor (`Tensor(0)`, PyTorch's `torch.tensor(0)`).
    public convenience init(_ value: Int) { self.init([value], shape: []) }
    /// A 0-dimensional bool tensor.
    ///
    /// PyTorch: `torch.tensor(value)`.
    public convenience init(_ value: Bool) { self.init([value], shape: []) }

    /// A tensor of zeros (PyTorch: `torch.zeros`).
    public static func zeros(_ shape: [Int], dtype: DType = .float32) -> Tensor {
        let n = shape.reduce(1, *)
        return Tensor(storage: Storage(zeroedByteCount: Swift.max(n, 1) * dtype.itemSize), shape: shape, dtype: dtype)
    }

    /// A tensor of ones (PyTorch: `torch.ones`).
    public static func ones(_ shape: [Int], dtype: DType = .float32) -> Tensor {
        full(shape, 1, dtype: dtype)
    }

    /// A tensor filled with `value` (PyTorch: `torch.full`).
    public static func full(_ shape: [Int], _ value: Double, dtype: DType = .float32) -> Tensor {
        let t = Tensor(empty: shape, dtype: dtype)
        switch dtype {
        case .float32: Kernels.fill(t.f32, Float(value), t.count)
        case .int64: Kernels.fill(t.i64, Int64(value), t.count)
        case .bool: t.u8.initialize(repeating: value != 0 ? 1 : 0, count: t.count)
        case .uint8: t.u8.initialize(repeating: UInt8(truncatingIfNeeded: Int(value)), count: t.count)
        }
        return t
    }

    /// Zeros of `t`'s shape and dtype (PyTorch: `torch.zeros_like`).
    public static func zeros(like t: Tensor) -> Tensor { zeros(t.shape, dtype: t.dtype) }
    /// Ones of `t`'s shape and dtype (PyTorch: `torch.ones_like`).
    public static func ones(like t: Tensor) -> Tensor { ones(t.shape, dtype: t.dtype) }

    /// `[start, start+step, …)` below `end`, as int64 when all arguments are integers.
    ///
    /// PyTorch: `torch.arange(end)`.
    public static func arange(_ end: Int) -> Tensor { arange(0, end) }
    /// int64 `[start, start+step, …)` below `end` (PyTorch: `torch.arange`).
    public static func arange(_ start: Int, _ end: Int, step: Int = 1) -> Tensor {
        precondition(step != 0, "arange: step must be nonzero")
        let n = Swift.max(0, (end - start + step - (step > 0 ? 1 : -1)) / step)
        return Tensor((0..<n).map { start + $0 * step })
    }
    /// float32 `[start, start+step, …)` below `end` (PyTorch: `torch.arange`).
    public static func arange(_ start: Double, _ end: Double, step: Double = 1) -> Tensor {
        precondition(step != 0, "arange: step must be nonzero")
        let n = Swift.max(0, Int(((end - start) / step).rounded(.up)))
        return Tensor((0..<n).map { Float(start + Double($0) * step) })
    }

    /// Uniform on [low, high) from `generator` (the global default unless given).
    ///
    /// PyTorch: `torch.rand`.
    public static func rand(_ shape: [Int], low: Float = 0, high: Float = 1,
                            generator: Generator = .default) -> Tensor {
        let t = Tensor(empty: shape)
        let (seed, offset) = generator.reserve(t.count)
        Kernels.randUniform(t.f32, t.count, low, high, seed, offset)
        return t
    }

    /// Standard normal (or N(mean, std²)) from `generator`.
    ///
    /// PyTorch: `torch.randn`.
    public static func randn(_ shape: [Int], mean: Float = 0, std: Float = 1,
                             generator: Generator = .default) -> Tensor {
        let t = Tensor(empty: shape)
        let (seed, offset) = generator.reserve(t.count + (t.count & 1))
        Kernels.randNormal(t.f32, t.count, mean, std, seed, offset)
        return t
    }

    /// Uniform integers in [low, high) as int64.
    ///
    /// PyTorch: `torch.randint`.
    public static func randint(_ low: Int, _ high: Int, _ shape: [Int],
                               generator: Generator = .default) -> Tensor {
        precondition(high > low, "randint: high (\(high)) must be greater than low (\(low))")
        let t = Tensor(empty: shape, dtype: .int64)
        let (width, overflow) = high.subtractingReportingOverflow(low)
        if overflow || width > 1 << 24 {
            // A float32 uniform has 24 bits: wider ranges draw 64-bit integers instead.
            let span = overflow ? UInt64(bitPattern: Int64(width)) : UInt64(width)
            let (seed, offset) = generator.reserve(t.count)
            for i in 0..<t.count {
                let z = Kernels.mix64(seed &+ 0x9E37_79B9_7F4A_7C15 &* (offset &+ UInt64(i) &+ 1))
                t.i64[i] = Int64(low) &+ Int64(bitPattern: z % span)
            }
            return t
        }
        let u = rand(shape, generator: generator)
        let span = Float(width)
        for i in 0..<t.count { t.i64[i] = Int64(low) + Swift.min(Int64(u.f32[i] * span), Int64(width - 1)) }
        return t
    }
}

// MARK: - Reading values

extension Tensor {
    /// The value of a one-element tensor, as a Double (PyTorch's `.item()`).
    public func item() -> Double {
        precondition(count == 1,
                     "item: a Tensor with \(count) elements cannot be converted to a scalar (shape \(shape))")
        switch dtype {
        case .float32: return Double(base.assumingMemoryBound(to: Float.self)[0])
        case .int64: return Double(base.assumingMemoryBound(to: Int64.self)[0])
        case .bool: return base.assumingMemoryBound(to: UInt8.self)[0] != 0 ? 1 : 0
        case .uint8: return Double(base.assumingMemoryBound(to: UInt8.self)[0])
        }
    }

    /// The elements in row-major order as Floats (any dtype).
    ///
    /// PyTorch: `x.flatten().tolist()`.
    public func toArray() -> [Float] {
        let t = contiguous()
        switch dtype {
        case .float32: return Array(UnsafeBufferPointer(start: t.f32, count: count))
        case .int64: return (0..<count).map { Float(t.i64[$0]) }
        case .bool, .uint8: return (0..<count).map { Float(t.u8[$0]) }
        }
    }

    /// The elements as Ints (floats truncate toward zero).
    ///
    /// PyTorch: `x.flatten().tolist()`.
    public func toIntArray() -> [Int] {
        let t = contiguous()
        switch dtype {
        case .float32: return (0..<count).map { Int(t.f32[$0]) }
        case .int64: return (0..<count).map { Int(t.i64[$0]) }
        case .bool, .uint8: return (0..<count).map { Int(t.u8[$0]) }
        }
    }

    /// The elements as Bools (`!= 0`).
    ///
    /// PyTorch: `x.flatten().tolist()`.
    public func toBoolArray() -> [Bool] { type(.bool).toIntArray().map { $0 != 0 } }

    /// Runs `body` with the float32 elements in row-major order (read-only; a strided tensor
    /// is copied first). Use for fast bulk reads.
    public func withUnsafeFloats<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        precondition(dtype == .float32, "withUnsafeFloats: expected float32, got \(dtype)")
        let t = contiguous()
        return try withExtendedLifetime(t) { try body(UnsafeBufferPointer(start: t.f32, count: count)) }
    }

    /// Runs `body` with the int64 elements in row-major order (read-only).
    public func withUnsafeInt64s<R>(_ body: (UnsafeBufferPointer<Int64>) throws -> R) rethrows -> R {
        precondition(dtype == .int64, "withUnsafeInt64s: expected int64, got \(dtype)")
        let t = contiguous()
        return try withExtendedLifetime(t) { try body(UnsafeBufferPointer(start: t.i64, count: count)) }
    }

    /// Runs `body` with mutable float32 elements of a contiguous tensor: a write bypasses
    /// autograd (like `.data`) but counts as an in-place write (versions, deferred gradients).
    public func withUnsafeMutableFloats<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        precondition(dtype == .float32, "withUnsafeMutableFloats: expected float32, got \(dtype)")
        precondition(isContiguous, "withUnsafeMutableFloats: the tensor is not contiguous (shape \(shape), strides \(strides)); write through copy_ or subscripts")
        willWriteInPlace()
        return try body(UnsafeMutableBufferPointer(start: f32, count: count))
    }
}

// MARK: - Copies, dtype conversion, detach

extension Tensor {
    /// A contiguous copy with its own storage. The gradient passes through, as PyTorch's
    /// (`x.detach().clone()` gives a copy cut from the graph).
    ///
    /// PyTorch: `clone()`.
    public func clone() -> Tensor {
        storageCopy().recorded("clone", [self], saved: []) { g in [g] }
    }

    /// A contiguous copy with its own storage, never recorded: for ops that record their
    /// own node over it, and for backward.
    func storageCopy() -> Tensor {
        let t = Tensor(empty: shape, dtype: dtype)
        t.writeElements(of: self)
        return t
    }

    /// The elements in row-major order in their own storage when self is not already so
    /// (PyTorch's `contiguous()`: self when `isContiguous`). The gradient passes through.
    public func contiguous() -> Tensor {
        if isContiguous { return self }
        return storageCopy().recorded("contiguous", [self], saved: []) { g in [g] }
    }

    /// The same data, cut from the graph: no gradient flows through the result.
    ///
    /// PyTorch: `detach()`.
    public func detach() -> Tensor {
        Tensor(storage: storage, shape: shape, strides: strides, dtype: dtype, offset: storageOffset, isView: isView)
    }

    /// Converts to another dtype (PyTorch's `.type(torch.float)` / `.to(dtype)`); float → int
    /// truncates toward zero, anything → bool is `!= 0`. Not differentiable.
    public func type(_ dtype: DType) -> Tensor {
        if dtype == self.dtype { return self }
        let src = contiguous()
        let t = Tensor(empty: shape, dtype: dtype)
        switch (self.dtype, dtype) {
        case (.float32, .int64): Kernels.f32ToI64(t.i64, src.f32, count)
        case (.int64, .float32): Kernels.i64ToF32(t.f32, src.i64, count)
        case (.bool, .float32): Kernels.u8ToF32(t.f32, src.u8, count, 1, 0)
        case (.bool, .int64): for i in 0..<count { t.i64[i] = Int64(src.u8[i]) }
        case (.float32, .bool): Kernels.f32ToU8(t.u8, src.f32, count)
        case (.int64, .bool): for i in 0..<count { t.u8[i] = src.i64[i] != 0 ? 1 : 0 }
        // uint8 as PyTorch: float truncates toward zero and wraps modulo 256 (NaN and
        // infinities give 0 here; PyTorch leaves them undefined), int64 wraps.
        case (.uint8, .float32): Kernels.u8ToF32(t.f32, src.u8, count, 1, 0)
        case (.uint8, .int64): for i in 0..<count { t.i64[i] = Int64(src.u8[i]) }
        case (.uint8, .bool): for i in 0..<count { t.u8[i] = src.u8[i] != 0 ? 1 : 0 }
        case (.bool, .uint8): t.raw.copyMemory(from: src.raw, byteCount: count)
        case (.float32, .uint8):
            for i in 0..<count {
                let v = src.f32[i]
                t.u8[i] = v.isFinite && Swift.abs(v) < 0x1p62 ? UInt8(truncatingIfNeeded: Int64(v)) : 0
            }
        case (.int64, .uint8): for i in 0..<count { t.u8[i] = UInt8(truncatingIfNeeded: src.i64[i]) }
        default: fatalError("unreachable")
        }
        return t
    }

    /// Same as `type(_:)`, PyTorch's other spelling.
    public func to(_ dtype: DType) -> Tensor { type(dtype) }
    /// Device moves are no-ops: Ember computes on the CPU.
    ///
    /// PyTorch: `to(device)`.
    public func to(_ device: Device) -> Tensor { self }

    /// Overwrites this tensor's elements with `other`'s, broadcast to this shape and converted
    /// to this dtype (PyTorch's `copy_`). Writes through views. In grad mode, when either side
    /// requires a gradient, the copy is recorded as PyTorch's is: the gradient flows to `other`,
    /// and self's old values get none (a view's base keeps its history elsewhere). As other
    /// in-place ops, it is refused on a leaf that requires a gradient, or a view of one.
    public func copy_(_ other: Tensor) {
        if isGradEnabled && dtype == .float32 && (requiresGrad || other.requiresGrad) {
            let shape = self.shape
            applyInPlace("copy_", [other]) { _ in
                let src = other.detach().type(.float32).expanded(to: shape)
                guard other.requiresGrad else { return src }
                return src.recorded("copy_", [other], saved: []) { g in [g.sumTo(other.shape)] }
            }
            return
        }
        check { try checkNoInternalOverlap("copy_") }
        willWriteInPlace()
        writeElements(of: other, op: "copy_")
    }

    /// Writes `src` (broadcast to self's shape, converted to self's dtype) into self's
    /// elements through self's strides. No version bump: callers say it is a write.
    func writeElements(of src: Tensor, op: String = "copy_") {
        var src = src.type(dtype)
        // A source sharing memory with the destination is read from a copy first.
        if src.storage === storage { src = src.storageCopy() }
        var srcStrides: [Int] = []
        check { srcStrides = try broadcastStrides(of: src, to: shape, op: op) }
        Kernels.copyStrided(dst: base, dstStrides: strides, src: src.base, srcStrides: srcStrides,
                            shape: shape, itemSize: dtype.itemSize)
    }
}

/// Normalises a possibly negative dim index, or stops with a PyTorch-like message.
func normalizeDim(_ dim: Int, _ ndim: Int, op: String) -> Int {
    let n = Swift.max(ndim, 1)
    precondition(dim >= -n && dim < n,
                 "\(op): dimension out of range (expected to be in range of [\(-n), \(n - 1)], but got \(dim))")
    return dim < 0 ? dim + n : dim
}
