import ArgumentParser
import Foundation

/// Monotonic seconds.
func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Median seconds per call of `body`: calls are grouped into batches of at least ~2 ms so
/// that clock overhead does not count, and the median of `samples` batches resists noise
/// from other processes on a shared machine.
func timePerCall(samples: Int = 15, _ body: () -> Void) -> Double {
    for _ in 0..<3 { body() }   // warm caches and the thread pool
    var reps = 1
    while true {
        let t0 = now()
        for _ in 0..<reps { body() }
        if now() - t0 > 0.002 { break }
        reps *= 2
    }
    var times: [Double] = []
    for _ in 0..<samples {
        let t0 = now()
        for _ in 0..<reps { body() }
        times.append((now() - t0) / Double(reps))
    }
    times.sort()
    return times[times.count / 2]
}

/// A fixed-width text table.
struct Table {
    var header: [String]
    var rows: [[String]] = []
    init(_ header: String...) { self.header = header }
    mutating func add(_ cells: String...) { rows.append(cells) }
    func render() -> String {
        let widths = header.indices.map { c in ([header] + rows).map { $0[c].count }.max()! }
        func line(_ cells: [String]) -> String {
            "| " + cells.enumerated().map { i, s in s.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: " | ") + " |"
        }
        return ([line(header), "|" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "|") + "|"]
            + rows.map(line)).joined(separator: "\n")
    }
}

func fmt(_ x: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", x) }

/// Median milliseconds of `count` timed calls of `body`, one call each (a training step).
func medianMilliseconds(_ count: Int, _ body: () -> Void) -> Double {
    var times: [Double] = []
    for _ in 0..<count {
        let t0 = now()
        body()
        times.append(now() - t0)
    }
    times.sort()
    return times[times.count / 2] * 1e3
}

/// "median (min–max)" of a sample.
func spread(_ xs: [Double], _ digits: Int = 1) -> String {
    let s = xs.sorted()
    guard !s.isEmpty else { return "-" }
    return "\(fmt(s[s.count / 2], digits)) (\(fmt(s.first!, digits))–\(fmt(s.last!, digits)))"
}
func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return s.isEmpty ? .nan : s[s.count / 2] }

/// Runs a PyTorch side of a comparison (`python script args…`) and returns the `name=value`
/// fields of what it printed; throws naming the script when a wanted field is missing.
func runPythonSide(_ python: String, _ script: String, _ arguments: [String], fields: [String]) throws -> [String: Double] {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: python)
    p.arguments = [script] + arguments
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    var values: [String: Double] = [:]
    for word in text.split(whereSeparator: \.isWhitespace) {
        let parts = word.split(separator: "=", maxSplits: 1)
        if parts.count == 2, let v = Double(parts[1]) { values[String(parts[0])] = v }
    }
    guard fields.allSatisfy({ values[$0] != nil }) else {
        throw ValidationError("\(script) printed no \(fields.joined(separator: "/")): \(text)")
    }
    return values
}
