import ArgumentParser

@main
struct EmberBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ember-bench",
        abstract: "Ember's benchmarks. Build with -c release: `swift run -c release ember-bench kernels`.",
        subcommands: [KernelsCommand.self, ThresholdCommand.self, StepCommand.self, CompareCommand.self, DataCommand.self,
                      PeakCommand.self, GemmCommand.self, OpsCommand.self, CNNCommand.self,
                      AttentionCommand.self, GPTCommand.self, AllreduceCommand.self, TorchLoadCommand.self])
}
