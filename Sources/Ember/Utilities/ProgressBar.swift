import Foundation

/// A tqdm-style progress line: `100%|██████████| 26.4M/26.4M [00:01<00:00, 20.9MB/s]`.
///
/// On a terminal the line is redrawn in place; otherwise (logs, CI) it prints plain lines at
/// each quarter and at the end, so logs stay readable.
///
/// ```swift
/// let bar = ProgressBar(total: batches, unit: "batch")
/// for _ in 0..<batches { …; bar.update(1) }
/// bar.finish()
/// ```
public final class ProgressBar {
    /// The count at 100%, or nil when unknown (no percentage is shown).
    public let total: Int?
    /// What is counted: "B", "batch", ….
    public let unit: String
    /// Whether counts use k/M/G prefixes (tqdm's `unit_scale`).
    public let unitScale: Bool
    /// Text before the bar (tqdm's `desc`).
    public let description: String
    /// Units counted so far.
    public internal(set) var current = 0
    let output: UnsafeMutablePointer<FILE>
    let isTTY: Bool
    let start = DispatchTime.now().uptimeNanoseconds
    var lastDraw: UInt64 = 0
    var lastQuarter = -1
    var finished = false

    /// - Parameters:
    ///   - total: the count at 100% (nil when unknown: no percentage, bar or ETA).
    ///   - unit: what is counted ("B" for bytes, "batch", …).
    ///   - unitScale: k/M/G prefixes on counts and rate (tqdm's `unit_scale=True`).
    ///   - description: text before the percentage.
    ///   - output: where the bar goes; nil (the default) is standard error, as tqdm's.
    ///   - isTTY: force line redrawing on or off (default: whether `output` is a terminal).
    public init(total: Int?, unit: String = "it", unitScale: Bool = false, description: String = "",
                output: UnsafeMutablePointer<FILE>? = nil, isTTY: Bool? = nil) {
        self.total = total
        self.unit = unit
        self.unitScale = unitScale
        self.description = description
        self.output = output ?? Kernels.standardError
        self.isTTY = isTTY ?? (isatty(fileno(self.output)) != 0)
    }

    /// Advances by `n` and redraws (at most every 50 ms on a terminal).
    public func update(_ n: Int) {
        current += n
        let now = DispatchTime.now().uptimeNanoseconds
        if isTTY {
            if now - lastDraw > 50_000_000 { lastDraw = now; emit(line(now: now), newline: false) }
        } else if let total, total > 0 {
            let q = min(4, current * 4 / total)
            if q > lastQuarter && q < 4 { lastQuarter = q; emit(line(now: now), newline: true) }
        }
    }

    /// Draws the final state and ends the line. Idempotent.
    public func finish() {
        guard !finished else { return }
        finished = true
        emit(line(now: DispatchTime.now().uptimeNanoseconds), newline: true)
    }

    func emit(_ s: String, newline: Bool) {
        // What was printed before the bar comes out before it, also when both are piped.
        fflush(Kernels.standardOutput)
        fputs((isTTY ? "\r" : "") + s + (newline ? "\n" : ""), output)
        fflush(output)
    }

    /// The text of the bar at time `now` (ns since boot).
    func line(now: UInt64) -> String {
        let elapsed = Double(now - start) / 1e9
        let rate = elapsed > 0 ? Double(current) / elapsed : 0
        let prefix = description.isEmpty ? "" : description + ": "
        let rateText = unitScale ? Self.sizeof(rate) + unit + "/s" : String(format: "%5.2f", rate) + unit + "/s"
        guard let total, total > 0 else {
            return "\(prefix)\(count(current))\(unitScale ? unit : unit == "it" ? "it" : " " + unit) [\(Self.clock(elapsed)), \(rateText)]"
        }
        let frac = min(1, Double(current) / Double(total))
        let remaining = rate > 0 ? Double(total - min(current, total)) / rate : 0
        return "\(prefix)\(String(format: "%3d", Int(frac * 100)))%|\(Self.bar(frac, width: 10))| "
            + "\(count(current))/\(count(total)) [\(Self.clock(elapsed))<\(Self.clock(remaining)), \(rateText)]"
    }

    func count(_ n: Int) -> String { unitScale ? Self.sizeof(Double(n)) : String(n) }

    /// tqdm's `format_sizeof`: three significant digits and a k/M/G/T prefix.
    static func sizeof(_ x: Double) -> String {
        var num = x
        for prefix in ["", "k", "M", "G", "T", "P"] {
            if abs(num) < 999.5 {
                if abs(num) < 99.95 {
                    if abs(num) < 9.995 { return String(format: "%1.2f", num) + prefix }
                    return String(format: "%2.1f", num) + prefix
                }
                return String(format: "%3.0f", num) + prefix
            }
            num /= 1000
        }
        return String(format: "%3.1f", num) + "E"
    }

    /// `MM:SS`, or `H:MM:SS` past an hour.
    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded(.down))
        let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60)
        return h > 0 ? String(format: "%d:%02d:%02d", h, m, sec) : String(format: "%02d:%02d", m, sec)
    }

    static func bar(_ frac: Double, width: Int) -> String {
        let eighths = Int(frac * Double(width * 8))
        let full = eighths / 8, part = eighths % 8
        let partials = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"]
        var s = String(repeating: "█", count: full)
        if full < width { s += partials[part] + String(repeating: " ", count: width - full - (part > 0 ? 1 : 0)) }
        return s
    }
}
