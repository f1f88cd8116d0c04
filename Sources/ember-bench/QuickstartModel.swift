import Ember

/// The quickstart's model (784-512-512-10 MLP behind a Flatten), built from Ember's public
/// layers so that the benchmarks time what a user's training step runs.
func quickstartModel(seed: UInt64 = 0) -> Sequential {
    manualSeed(seed)
    return Sequential(Flatten(), Linear(28 * 28, 512), ReLU(), Linear(512, 512), ReLU(), Linear(512, 10))
}
