/// Element types. Ember computes in `float32`; class labels and indices are `int64` as in
/// PyTorch; comparisons give `bool` (one byte per element).
public enum DType: String, CustomStringConvertible, Sendable, CaseIterable {
    /// 32-bit IEEE float, the type Ember computes in (PyTorch: `torch.float32`).
    case float32
    /// 64-bit signed integer: class labels and indices (PyTorch: `torch.int64`).
    case int64
    /// Booleans, one byte each: comparison results and masks (PyTorch: `torch.bool`).
    case bool
    /// Bytes of decoded images (torchvision's `read_image` gives uint8 `[C, H, W]`).
    case uint8

    /// Bytes per element.
    public var itemSize: Int {
        switch self {
        case .float32: return 4
        case .int64: return 8
        case .bool, .uint8: return 1
        }
    }

    /// `float32`, `int64`, `bool`, `uint8` — as PyTorch names them without the `torch.` prefix.
    public var description: String { rawValue }
}

/// Where a tensor's numbers live. Ember computes on the CPU; `best` exists so that code
/// written for PyTorch's `cuda if available else cpu` reads the same, and is `cpu`.
public enum Device: String, CustomStringConvertible, Sendable {
    /// The CPU (PyTorch: `torch.device("cpu")`).
    case cpu
    /// The fastest device available: always `.cpu` in Ember.
    public static var best: Device { .cpu }
    /// `cpu`.
    public var description: String { rawValue }
}
