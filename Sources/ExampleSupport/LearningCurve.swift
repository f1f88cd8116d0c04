// The learning curve of a training run as a standalone SVG file (`quickstart --plot FILE`).
//
// Self-contained on purpose: it uses Foundation only (number formatting, the file write) and
// nothing from Ember, so it can move into a tested target unchanged.

import Foundation

/// Training loss, test loss and test accuracy of a run, drawn as an SVG in two panels that
/// share the x axis (epochs): losses on top, test accuracy below, with ticks, axis labels,
/// a legend and a title. The file opens in any browser.
///
/// ```swift
/// var curve = LearningCurve(title: "Ember quickstart — FashionMNIST")
/// curve.addTrainingLoss(epoch: Double(t) + Double(current) / Double(size), loss: loss)
/// curve.addTest(epoch: t + 1, accuracy: correct, loss: testLoss)   // correct in 0...1
/// try curve.write(to: "curve.svg")
/// ```
public struct LearningCurve {
    /// The title drawn above the panels.
    public var title: String
    /// The x axis's label: "epoch" unless the run counts in something else (the gpt example
    /// plots evaluations every 100 steps).
    public var xAxisLabel = "epoch"
    /// (epochs elapsed, loss) of the training batches recorded, in the order added.
    public private(set) var trainingLoss: [(epoch: Double, loss: Double)] = []
    /// (epoch number, accuracy as a fraction, average loss) of each test pass.
    public private(set) var tests: [(epoch: Int, accuracy: Double, loss: Double)] = []

    public init(title: String = "Learning curve") {
        self.title = title
    }

    /// Records a training batch's loss at `epoch` epochs elapsed (fractional: epoch 0 is the
    /// start of training, 1.5 is half-way through the second epoch; samples seen / dataset size).
    public mutating func addTrainingLoss(epoch: Double, loss: Double) {
        trainingLoss.append((epoch, loss))
    }

    /// Records the test pass after epoch number `epoch` (1-based, so it is drawn at x = epoch,
    /// the end of that epoch). `accuracy` is a fraction in 0...1; a value above 1 is read as a
    /// percentage. `loss` is the average test loss.
    public mutating func addTest(epoch: Int, accuracy: Double, loss: Double) {
        tests.append((epoch, accuracy > 1 ? accuracy / 100 : accuracy, loss))
    }

    /// Writes `svg()` to `path` atomically: a temporary file in the same directory, then
    /// rename(2), so a reader never sees a half-written file.
    public func write(to path: String) throws {
        let url = URL(fileURLWithPath: path)
        try Data(svg().utf8).write(to: url, options: .atomic)
    }

    // MARK: Drawing

    private static let width = 860.0, height = 640.0
    private static let left = 80.0, right = 30.0
    private static let lossTop = 92.0, lossBottom = 352.0         // top panel
    private static let accTop = 400.0, accBottom = 580.0          // bottom panel
    private static let trainColor = "#1f77b4", testLossColor = "#ff7f0e", accColor = "#2ca02c"

    /// The chart as a standalone SVG document.
    public func svg() -> String {
        typealias C = LearningCurve
        let plotLeft = C.left, plotRight = C.width - C.right
        var out: [String] = []
        out.append(#"<?xml version="1.0" encoding="UTF-8"?>"#)
        out.append(#"<svg xmlns="http://www.w3.org/2000/svg" width="\#(n(C.width))" height="\#(n(C.height))" viewBox="0 0 \#(n(C.width)) \#(n(C.height))" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">"#)
        out.append(#"<rect width="100%" height="100%" fill="white"/>"#)
        out.append(#"<text x="\#(n(C.width / 2))" y="30" text-anchor="middle" font-size="18" font-weight="bold">\#(escape(title))</text>"#)

        // Shared x axis: epochs, from 0 to the last epoch seen (at least 1).
        let trainPoints = trainingLoss.filter { $0.epoch.isFinite && $0.loss.isFinite }
        let lastEpoch = max(1.0, (trainPoints.map(\.epoch) + tests.map { Double($0.epoch) }).max() ?? 1)
        // Whole epochs from 2 to 12 epochs; finer ticks for a short run, coarser for a long one.
        let xTicks = lastEpoch > 2 && lastEpoch <= 12
            ? Ticks(lo: 0, hi: lastEpoch.rounded(.up), step: 1)
            : Ticks.nice(0, lastEpoch)
        // 10 px inside the frame on each side, so markers at the first/last epoch stay whole.
        func x(_ e: Double) -> Double {
            plotLeft + 10 + (e - xTicks.lo) / (xTicks.hi - xTicks.lo) * (plotRight - plotLeft - 20)
        }

        // Legend, one row under the title.
        var lx = plotLeft
        for (label, color, dashed, marker) in [("training loss (every 100 batches)", C.trainColor, false, false),
                                               ("test loss (per epoch)", C.testLossColor, true, true),
                                               ("test accuracy (per epoch)", C.accColor, false, true)] {
            out.append(#"<line x1="\#(n(lx))" y1="58" x2="\#(n(lx + 28))" y2="58" stroke="\#(color)" stroke-width="2.5"\#(dashed ? #" stroke-dasharray="6 3""# : "")/>"#)
            if marker { out.append(#"<circle cx="\#(n(lx + 14))" cy="58" r="3.5" fill="\#(color)"/>"#) }
            out.append(#"<text x="\#(n(lx + 34))" y="62">\#(label)</text>"#)
            lx += 40 + Double(label.count) * 6.6
        }

        // Top panel: losses.
        let testLosses = tests.map(\.loss).filter(\.isFinite)
        let lossValues = trainPoints.map(\.loss) + testLosses
        let lossTicks = lossValues.isEmpty ? Ticks(lo: 0, hi: 2.5, step: 0.5)
                                           : Ticks.nice(lossValues.min()!, lossValues.max()!)
        func yLoss(_ v: Double) -> Double { C.lossBottom - (v - lossTicks.lo) / (lossTicks.hi - lossTicks.lo) * (C.lossBottom - C.lossTop) }
        panel(&out, top: C.lossTop, bottom: C.lossBottom, xTicks: xTicks, x: x, yTicks: lossTicks, y: yLoss,
              yLabel: "loss", yFormat: { lossTicks.format($0) }, xLabels: true)
        out.append(polyline(trainPoints.map { (x($0.epoch), yLoss($0.loss)) }, color: C.trainColor, width: 1.6))
        if trainPoints.count == 1 {   // a line needs two points: show a lone one as a dot
            out.append(#"<circle cx="\#(n(x(trainPoints[0].epoch)))" cy="\#(n(yLoss(trainPoints[0].loss)))" r="3" fill="\#(C.trainColor)"/>"#)
        }
        let testLossPoints = tests.filter { $0.loss.isFinite }.map { (x(Double($0.epoch)), yLoss($0.loss)) }
        out.append(polyline(testLossPoints, color: C.testLossColor, width: 2, dashed: true))
        for (px, py) in testLossPoints { out.append(#"<circle cx="\#(n(px))" cy="\#(n(py))" r="4" fill="\#(C.testLossColor)"/>"#) }
        if lossValues.isEmpty { out.append(noData(x: (plotLeft + plotRight) / 2, y: (C.lossTop + C.lossBottom) / 2)) }

        // Bottom panel: test accuracy in percent.
        let accs = tests.map { $0.accuracy * 100 }.filter(\.isFinite)
        var accTicks = accs.isEmpty ? Ticks(lo: 0, hi: 100, step: 20) : Ticks.nice(accs.min()!, accs.max()!, target: 4)
        accTicks = accTicks.clamped(0, 100)
        func yAcc(_ v: Double) -> Double { C.accBottom - (v - accTicks.lo) / (accTicks.hi - accTicks.lo) * (C.accBottom - C.accTop) }
        panel(&out, top: C.accTop, bottom: C.accBottom, xTicks: xTicks, x: x, yTicks: accTicks, y: yAcc,
              yLabel: "test accuracy (%)", yFormat: { accTicks.format($0) }, xLabels: true)
        let accPoints = tests.filter { $0.accuracy.isFinite }.map { (x(Double($0.epoch)), yAcc($0.accuracy * 100), $0.accuracy * 100) }
        out.append(polyline(accPoints.map { ($0.0, $0.1) }, color: C.accColor, width: 2))
        for (px, py, v) in accPoints {
            out.append(#"<circle cx="\#(n(px))" cy="\#(n(py))" r="4" fill="\#(C.accColor)"/>"#)
            if accPoints.count <= 20 {
                let above = py - 8 > C.accTop + 10
                out.append(#"<text x="\#(n(px))" y="\#(n(above ? py - 8 : py + 16))" text-anchor="\#(px > plotRight - 30 ? "end" : "middle")" font-size="11" fill="\#(C.accColor)">\#(String(format: "%.1f%%", v))</text>"#)
            }
        }
        if accs.isEmpty { out.append(noData(x: (plotLeft + plotRight) / 2, y: (C.accTop + C.accBottom) / 2)) }

        out.append(#"<text x="\#(n((plotLeft + plotRight) / 2))" y="\#(n(C.accBottom + 44))" text-anchor="middle" font-size="13">\#(xAxisLabel)</text>"#)
        out.append("</svg>")
        return out.joined(separator: "\n") + "\n"
    }

    /// Frame, grid lines, ticks and tick labels of one panel, and its rotated y-axis label.
    private func panel(_ out: inout [String], top: Double, bottom: Double, xTicks: Ticks, x: (Double) -> Double,
                       yTicks: Ticks, y: (Double) -> Double, yLabel: String, yFormat: (Double) -> String,
                       xLabels: Bool) {
        let l = LearningCurve.left, r = LearningCurve.width - LearningCurve.right
        for v in yTicks.values {
            let py = y(v)
            out.append(#"<line x1="\#(n(l))" y1="\#(n(py))" x2="\#(n(r))" y2="\#(n(py))" stroke="rgb(224,224,224)"/>"#)
            out.append(#"<line x1="\#(n(l - 5))" y1="\#(n(py))" x2="\#(n(l))" y2="\#(n(py))" stroke="black"/>"#)
            out.append(#"<text x="\#(n(l - 8))" y="\#(n(py + 4))" text-anchor="end">\#(yFormat(v))</text>"#)
        }
        for v in xTicks.values {
            let px = x(v)
            out.append(#"<line x1="\#(n(px))" y1="\#(n(top))" x2="\#(n(px))" y2="\#(n(bottom))" stroke="rgb(224,224,224)"/>"#)
            out.append(#"<line x1="\#(n(px))" y1="\#(n(bottom))" x2="\#(n(px))" y2="\#(n(bottom + 5))" stroke="black"/>"#)
            if xLabels { out.append(#"<text x="\#(n(px))" y="\#(n(bottom + 19))" text-anchor="middle">\#(xTicks.format(v))</text>"#) }
        }
        out.append(#"<rect x="\#(n(l))" y="\#(n(top))" width="\#(n(r - l))" height="\#(n(bottom - top))" fill="none" stroke="black"/>"#)
        let cy = (top + bottom) / 2
        out.append(#"<text x="24" y="\#(n(cy))" text-anchor="middle" font-size="13" transform="rotate(-90 24 \#(n(cy)))">\#(escape(yLabel))</text>"#)
    }

    private func polyline(_ points: [(Double, Double)], color: String, width: Double, dashed: Bool = false) -> String {
        guard !points.isEmpty else { return "" }
        let coords = points.map { "\(n($0.0)),\(n($0.1))" }.joined(separator: " ")
        return #"<polyline points="\#(coords)" fill="none" stroke="\#(color)" stroke-width="\#(n(width))" stroke-linejoin="round"\#(dashed ? #" stroke-dasharray="6 3""# : "")/>"#
    }

    private func noData(x: Double, y: Double) -> String {
        #"<text x="\#(n(x))" y="\#(n(y))" text-anchor="middle" fill="gray">no data yet</text>"#
    }
}

/// Axis ticks lo, lo + step, …, hi.
private struct Ticks {
    var lo: Double, hi: Double, step: Double

    /// Ticks at 1, 2 or 5 × 10^k covering lo...hi with about `target` intervals.
    static func nice(_ lo: Double, _ hi: Double, target: Int = 5) -> Ticks {
        var lo = lo, hi = hi
        if hi - lo <= 0 {   // one value: widen around it
            let pad = lo == 0 ? 1 : abs(lo) * 0.1
            lo -= pad; hi += pad
        }
        let raw = (hi - lo) / Double(target)
        let magnitude = pow(10, (log10(raw)).rounded(.down))
        let r = raw / magnitude
        let step = (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * magnitude
        return Ticks(lo: (lo / step).rounded(.down) * step, hi: (hi / step).rounded(.up) * step, step: step)
    }

    /// The same ticks with the range cut to lo...hi (accuracy never leaves 0...100).
    func clamped(_ a: Double, _ b: Double) -> Ticks {
        Ticks(lo: max(lo, a), hi: min(hi, b), step: step)
    }

    var values: [Double] {
        var out: [Double] = []
        var i = 0.0
        while lo + i * step <= hi + step * 1e-9 { out.append(lo + i * step); i += 1 }
        return out
    }

    /// A tick label with as many decimals as the step needs.
    func format(_ v: Double) -> String {
        let decimals = max(0, Int((-log10(step)).rounded(.up)))
        return String(format: "%.\(decimals)f", abs(v) < step * 1e-9 ? 0 : v)
    }
}

/// A coordinate with at most two decimals ("12.5", not "12.500000").
private func n(_ v: Double) -> String {
    let s = String(format: "%.2f", v)
    var t = Substring(s)
    while t.hasSuffix("0") { t = t.dropLast() }
    if t.hasSuffix(".") { t = t.dropLast() }
    return String(t)
}

/// Text escaped for SVG content and attribute values.
private func escape(_ s: String) -> String {
    var out = ""
    for c in s {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        default: out.append(c)
        }
    }
    return out
}
