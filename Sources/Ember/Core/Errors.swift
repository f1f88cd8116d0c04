/// Errors for misuse that a caller can catch. Tensor operators cannot throw (they compose
/// in expressions), so they stop the program with the same text via `check`.
public enum EmberError: Error, CustomStringConvertible, Equatable {
    /// Two operands whose shapes do not fit, e.g. "mat1 and mat2 shapes cannot be multiplied
    /// (64x784 and 512x10)".
    case shapeMismatch(op: String, message: String)
    /// A tensor of the wrong dtype for an op.
    case dtypeMismatch(op: String, expected: DType, got: DType)
    /// An argument outside what the op accepts, with the op's name and the problem.
    case invalidArgument(op: String, message: String)

    /// The op's name and the problem, in PyTorch's wording where PyTorch has one.
    public var description: String {
        switch self {
        case .shapeMismatch(let op, let message): return "\(op): \(message)"
        case .dtypeMismatch(let op, let expected, let got):
            return "\(op): expected \(expected) but got \(got)"
        case .invalidArgument(let op, let message): return "\(op): \(message)"
        }
    }
}

/// Runs a validation that throws `EmberError`; on error stops with its description. Ops
/// validate through throwing functions so that tests can check the messages.
@inline(__always)
func check(_ body: () throws -> Void) {
    do { try body() } catch { fatalError("\(error)") }
}

func shapeString(_ s: [Int]) -> String { s.map(String.init).joined(separator: "x") }

func expectDType(_ t: Tensor, _ dtype: DType, op: String) throws {
    if t.dtype != dtype { throw EmberError.dtypeMismatch(op: op, expected: dtype, got: t.dtype) }
}
