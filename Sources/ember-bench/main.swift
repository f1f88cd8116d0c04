// TEMPORARY (data branch): runs the data benchmark so it can be measured before the lead
// wires `ember-bench data` into the real command-line tool. Replace with the lead's main.swift.
import Foundation
var args = Array(CommandLine.arguments.dropFirst())
if args.first == "data" {
    func value(_ flag: String) -> String? { args.firstIndex(of: flag).flatMap { $0 + 1 < args.count ? args[$0 + 1] : nil } }
    try runDataLoaderBench(workers: (value("--workers") ?? "0,1,2").split(separator: ",").compactMap { Int($0) },
                           epochs: Int(value("--epochs") ?? "3") ?? 3,
                           root: value("--root") ?? "/tmp/pytorch-reference/data",
                           python: value("--python"),
                           trainingBatches: Int(value("--training-batches") ?? "300") ?? 300,
                           rounds: Int(value("--rounds") ?? "3") ?? 3)
} else {
    print("x")
}
