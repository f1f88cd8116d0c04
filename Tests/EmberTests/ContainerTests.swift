import Foundation
import XCTest
@testable import Ember

/// ModuleList and ModuleDict: state-dict keys equal to PyTorch's for the same model
/// (Fixtures/transformer_util.json), the collection operations, and blocks with a forward of
/// several inputs and outputs held in a typed list.
final class ContainerTests: XCTestCase {
    /// PyTorch's Block and Net of scripts/make_transformer_util_fixtures.py, in Swift.
    final class Block: Module {
        let selfAttn = Linear(4, 4)
        let mlp = Sequential(Linear(4, 8), ReLU(), Linear(8, 4))
        let norm1 = LayerNorm([4])
    }
    final class Net: Module {
        let tokEmbed = Embedding(10, 4, paddingIdx: 0)
        let layers = ModuleList((0..<3).map { _ in Block() })
        let heads: ModuleDict<Linear> = ["cls": Linear(4, 3), "box_reg": Linear(4, 2)]
        let towers = ModuleList<ModuleDict<Linear>>([["up": Linear(4, 4)], ["down": Linear(4, 4, bias: false)]])
        let finalNorm = LayerNorm([4])
    }

    struct Keys: Decodable { let keys: [String]; let shapes: [[Int]]; let repr: String; let list_repr: String }
    struct File: Decodable { let containers: Keys }

    func testStateDictKeysEqualPyTorchs() throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "transformer_util", withExtension: "json", subdirectory: "Fixtures"))
        let torch = try JSONDecoder().decode(File.self, from: Data(contentsOf: url)).containers
        let net = Net()
        XCTAssertEqual(net.stateDictKeys(), torch.keys)
        let state = net.stateDict()
        XCTAssertEqual(torch.keys.map { state[$0]!.shape }, torch.shapes)
        XCTAssertTrue(torch.keys.contains("layers.2.mlp.2.bias"))
        XCTAssertTrue(torch.keys.contains("heads.box_reg.weight"), "ModuleDict keys are not snake-cased or changed")
        // print(model) as PyTorch prints it, repeated blocks folded: "(0-2): 3 x Block(".
        // (print uses the Swift property names; ModuleDict keys are as given.)
        // (Ember's LayerNorm does not print PyTorch 2.1's "bias=True" yet.)
        let swiftNames = [("(tok_embed)", "(tokEmbed)"), ("(self_attn)", "(selfAttn)"), ("(final_norm)", "(finalNorm)"),
                          ("elementwise_affine=True, bias=True)", "elementwise_affine=True)")]
        XCTAssertEqual(net.description, swiftNames.reduce(torch.repr) { $0.replacingOccurrences(of: $1.0, with: $1.1) })
        let stack = ModuleList<Module>([Linear(4, 4), Linear(4, 4), ReLU(), Linear(4, 4),
                                        Sequential(Linear(4, 8), ReLU()), Sequential(Linear(4, 8), ReLU())])
        XCTAssertEqual(stack.description, torch.list_repr)
        XCTAssertEqual(ModuleList<Linear>().description, "ModuleList()")
        // Parameters in the same order, and a round trip into a fresh model.
        XCTAssertEqual(net.namedParameters().count, net.parameters().count)
        let other = Net()
        try other.loadStateDict(state)
        for (k, t) in other.stateDict() { XCTAssertEqual(t.toArray(), state[k]!.toArray(), k) }
        // Modes reach the blocks through the containers.
        net.eval()
        XCTAssertFalse(net.layers[2].mlp[1].isTraining)
        XCTAssertFalse(net.heads["cls"]!.isTraining)
    }

    func testModuleListOperations() {
        let list = ModuleList<Module>([Linear(2, 3), ReLU()])
        XCTAssertEqual(list.count, 2)
        list.append(Linear(3, 1))
        list.insert(Identity(), at: 1)
        list.extend([Dropout(p: 0.5), Flatten()])
        XCTAssertEqual(list.map(\.typeName), ["Linear", "Identity", "ReLU", "Linear", "Dropout", "Flatten"])
        XCTAssertEqual(list.remove(at: 1).typeName, "Identity")
        list[1] = Linear(3, 3)
        XCTAssertEqual(list.map(\.typeName), ["Linear", "Linear", "Linear", "Dropout", "Flatten"])
        XCTAssertEqual(list.stateDictKeys(), ["0.weight", "0.bias", "1.weight", "1.bias", "2.weight", "2.bias"])
        XCTAssertEqual(list.description, """
            ModuleList(
              (0): Linear(in_features=2, out_features=3, bias=True)
              (1): Linear(in_features=3, out_features=3, bias=True)
              (2): Linear(in_features=3, out_features=1, bias=True)
              (3): Dropout(p=0.5, inplace=False)
              (4): Flatten(start_dim=1, end_dim=-1)
            )
            """)
        // Reassigned elements are seen at once (reflection reads afresh).
        XCTAssertEqual(list.parameters().count, 6)
        XCTAssertEqual(ModuleList<Linear>().parameters().count, 0)
        let literal: ModuleList<Linear> = [Linear(2, 3), Linear(3, 4)]
        XCTAssertEqual(literal.map(\.outFeatures), [3, 4])
        XCTAssertEqual(literal.stateDictKeys(), ["0.weight", "0.bias", "1.weight", "1.bias"])
    }

    func testModuleDictOperations() {
        let dict: ModuleDict<Module> = ["b": Linear(2, 2), "a": ReLU()]
        XCTAssertEqual(dict.keys, ["b", "a"], "insertion order, not sorted")
        dict["c"] = Linear(2, 1)
        dict["b"] = Linear(2, 5)   // replaced in place: keeps its position
        XCTAssertEqual(dict.keys, ["b", "a", "c"])
        XCTAssertEqual((dict["b"] as? Linear)?.outFeatures, 5)
        XCTAssertNil(dict["zzz"])
        XCTAssertTrue(dict.contains("a"))
        dict["a"] = nil
        XCTAssertEqual(dict.keys, ["b", "c"])
        XCTAssertEqual(dict.removeValue(forKey: "b")?.typeName, "Linear")
        XCTAssertNil(dict.removeValue(forKey: "b"))
        dict.update([("d", Identity()), ("c", Linear(2, 2))])
        XCTAssertEqual(dict.keys, ["c", "d"])
        XCTAssertEqual(dict.map(\.key), ["c", "d"])
        XCTAssertEqual(dict.values.map(\.typeName), ["Linear", "Identity"])
        XCTAssertEqual(dict.count, 2)
        XCTAssertEqual(dict.stateDictKeys(), ["c.weight", "c.bias"])
        XCTAssertEqual(dict.description, """
            ModuleDict(
              (c): Linear(in_features=2, out_features=2, bias=True)
              (d): Identity()
            )
            """)
    }

    /// A block whose forward takes two tensors and returns two, held in a typed list: called
    /// with no casts, and gradients reach every block's parameters.
    final class GatedBlock: Module {
        let fc = Linear(4, 4)
        func callAsFunction(_ x: Tensor, mask: Tensor) -> (out: Tensor, gate: Tensor) {
            let gate = fc(x).sigmoid() * mask
            return (x + gate, gate)
        }
    }
    final class GatedStack: Module {
        let blocks = ModuleList((0..<3).map { _ in GatedBlock() })
        let heads: ModuleDict<Linear> = ["score": Linear(4, 1)]
        func callAsFunction(_ x: Tensor, mask: Tensor) -> (score: Tensor, gates: [Tensor]) {
            var x = x, gates: [Tensor] = []
            for block in blocks {
                let (y, gate) = block(x, mask: mask)
                x = y
                gates.append(gate)
            }
            return (heads["score"]!(x), gates)
        }
    }

    func testBlocksWithSeveralInputsAndOutputs() {
        let model = GatedStack()
        XCTAssertEqual(model.stateDictKeys(), ["blocks.0.fc.weight", "blocks.0.fc.bias", "blocks.1.fc.weight", "blocks.1.fc.bias",
                                               "blocks.2.fc.weight", "blocks.2.fc.bias", "heads.score.weight", "heads.score.bias"])
        let x = Tensor(testValues(8), shape: [2, 4])
        let mask = Tensor([1, 1, 0, 1, 1, 0, 1, 1] as [Float], shape: [2, 4])
        let (score, gates) = model(x, mask: mask)
        XCTAssertEqual(score.shape, [2, 1])
        XCTAssertEqual(gates.count, 3)
        XCTAssertEqual(gates[1].toArray()[2], 0, "the mask reaches the blocks")
        // The same value computed by hand from the blocks' parameters.
        var h = x
        for b in model.blocks { h = h + linear(h, b.fc.weight, b.fc.bias).sigmoid() * mask }
        XCTAssertEqual(score.toArray(), linear(h, model.heads["score"]!.weight, model.heads["score"]!.bias).toArray())
        score.sum().backward()
        for (name, p) in model.namedParameters() { XCTAssertNotNil(p.grad, name) }
        // A module without a single-tensor forward still prints, lists and saves as any other.
        XCTAssertTrue(model.description.hasPrefix("GatedStack(\n  (blocks): ModuleList(\n    (0-2): 3 x GatedBlock("))
    }
}
