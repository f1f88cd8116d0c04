import Ember   // not @testable: the seed's model must compile against the public API alone

extension NNModels {
    /// The seed's model, as shared/design/quickstart.swift writes it. Subclassing `Module`
    /// from outside the module here is what a user does: a missing `open` fails the build.
    final class NeuralNetwork: Module {
        let flatten = Flatten()
        let linearReluStack = Sequential(
            Linear(28 * 28, 512),
            ReLU(),
            Linear(512, 512),
            ReLU(),
            Linear(512, 10)
        )

        override func forward(_ x: Tensor) -> Tensor {
            linearReluStack(flatten(x))
        }
    }
}
