import Foundation

/// `print(tensor)` in PyTorch's format: `tensor([[0.1000, 0.2000], …])`, four decimals,
/// integers as `1.`, scientific notation for wide ranges, and summarised with `...` beyond
/// 1000 elements (three items at each edge).
extension Tensor: CustomStringConvertible {
    /// The tensor in PyTorch's `repr` format, with `requires_grad=True` or `grad_fn=<…>` where PyTorch shows them.
    public var description: String {
        let prefix = "tensor("
        var suffix: [String] = []
        if let op = gradFn?.op { suffix.append("grad_fn=<\(Tensor.backwardName(op))>") }
        else if requiresGrad { suffix.append("requires_grad=True") }
        let body = TensorFormatter(self).format(indent: prefix.count)
        return prefix + body + suffix.map { ", " + $0 }.joined() + ")"
    }

    static func backwardName(_ op: String) -> String {
        op.split(separator: "_").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined() + "Backward0"
    }
}

private struct TensorFormatter {
    static let threshold = 1000, edgeItems = 3, lineWidth = 80
    let tensor: Tensor
    let summarize: Bool
    let format: (Int) -> String   // element index -> text, unpadded
    let width: Int

    init(_ t: Tensor) {
        let t = t.contiguous()
        tensor = t
        summarize = t.count > Self.threshold
        let shown = Self.shownIndices(t, summarize: summarize)
        switch t.dtype {
        case .bool:
            format = { t.u8[$0] != 0 ? "True" : "False" }
        case .int64:
            format = { String(t.i64[$0]) }
        case .uint8:
            format = { String(t.u8[$0]) }
        case .float32:
            let finite = shown.map { t.f32[$0] }.filter { $0.isFinite }
            let intMode = finite.allSatisfy { $0 == $0.rounded() }
            let nonzero = finite.map { Swift.abs($0) }.filter { $0 != 0 }
            let maxAbs = nonzero.max() ?? 0, minAbs = nonzero.min() ?? 0
            let sci = !nonzero.isEmpty && (maxAbs / minAbs > 1000 || maxAbs > 1e8 || minAbs < 1e-4)
            format = { i in
                let v = t.f32[i]
                if v.isNaN { return "nan" }
                if v.isInfinite { return v > 0 ? "inf" : "-inf" }
                if intMode && !sci { return String(format: "%.0f.", Double(v)) }
                return String(format: sci ? "%.4e" : "%.4f", Double(v))
            }
        }
        let fmt = format
        width = shown.map { fmt($0).count }.max() ?? 0
    }

    /// Flat indices of the elements that will be printed.
    static func shownIndices(_ t: Tensor, summarize: Bool) -> [Int] {
        var out: [Int] = []
        func walk(_ dim: Int, _ base: Int) {
            if dim == t.ndim { out.append(base); return }
            let stride = t.shape[(dim + 1)...].reduce(1, *)
            for i in visible(t.shape[dim], summarize) { walk(dim + 1, base + i * stride) }
        }
        if t.count > 0 { walk(0, 0) }
        return out
    }

    static func visible(_ n: Int, _ summarize: Bool) -> [Int] {
        if summarize && n > 2 * edgeItems { return Array(0..<edgeItems) + Array((n - edgeItems)..<n) }
        return Array(0..<n)
    }

    func pad(_ s: String) -> String { String(repeating: " ", count: Swift.max(0, width - s.count)) + s }

    func format(indent: Int) -> String {
        if tensor.ndim == 0 { return format(0) }
        if tensor.count == 0 { return "[]" }
        return block(dim: 0, base: 0, indent: indent)
    }

    private func block(dim: Int, base: Int, indent: Int) -> String {
        let n = tensor.shape[dim]
        let stride = tensor.shape[(dim + 1)...].reduce(1, *)
        let elided = summarize && n > 2 * Self.edgeItems
        let idx = Self.visible(n, summarize)
        if dim == tensor.ndim - 1 {
            var items = idx.map { pad(format(base + $0 * stride)) }
            if elided { items.insert(" ...", at: Self.edgeItems) }   // PyTorch's spacing
            // Wrap long rows at 80 columns, as PyTorch does.
            let perLine = Swift.max(1, (Self.lineWidth - indent) / (width + 2))
            var lines: [String] = []
            var i = 0
            while i < items.count {
                lines.append(items[i..<Swift.min(i + perLine, items.count)].joined(separator: ", "))
                i += perLine
            }
            return "[" + lines.joined(separator: ",\n" + String(repeating: " ", count: indent + 1)) + "]"
        }
        let sep = "," + String(repeating: "\n", count: tensor.ndim - dim - 1) + String(repeating: " ", count: indent + 1)
        var parts = idx.map { block(dim: dim + 1, base: base + $0 * stride, indent: indent + 1) }
        if elided { parts.insert("...", at: Self.edgeItems) }
        return "[" + parts.joined(separator: sep) + "]"
    }
}
