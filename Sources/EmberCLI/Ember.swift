// `ember`: command-line tools around Ember's file formats.
//
//     ember convert resnet.pth resnet.safetensors [--key model] [--strip-wrapper-prefixes]
//
// The target is EmberCLI, not `ember`: a `Sources/ember` beside `Sources/Ember` would be one
// folder on a case-insensitive file system. The product (and so the binary) is `ember`.
import ArgumentParser
import Ember
import Foundation

@main
struct EmberCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ember",
        abstract: "Ember's command-line tools.",
        subcommands: [Convert.self])
}

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Converts a PyTorch torch.save file (.pt/.pth) to safetensors, listing the tensors written.",
        discussion: """
            The file is read safely: its pickle is interpreted as data and only what \
            torch.load(weights_only=True) allows is built; nothing in it is run. Storage types \
            Ember lacks become float32 (float64, float16, bfloat16) or int64 (int32, int16, int8, \
            uint8), and are listed. Tensors that share storage in PyTorch are written each on its own.
            """)

    @Argument(help: "The torch.save file to read.")
    var input: String

    @Argument(help: "The safetensors file to write (replaced atomically).")
    var output: String

    @Option(help: "Convert the state dict under this key of a checkpoint dict (e.g. model).")
    var key: String?

    @Option(name: .customLong("strip-prefix"), help: "Remove this prefix from the keys that start with it (repeatable).")
    var stripPrefixes: [String] = []

    @Flag(help: "Remove DataParallel's `module.` and torch.compile's `_orig_mod.` prefixes.")
    var stripWrapperPrefixes = false

    func run() throws {
        let checkpoint = try TorchCheckpoint.read(from: input)
        let prefixes = stripPrefixes + (stripWrapperPrefixes ? TorchCheckpoint.wrapperPrefixes : [])
        let tensors = try checkpoint.stateDict(at: key, strippingPrefixes: prefixes)
        try SafeTensors.write(tensors, to: output)
        var table: [(String, String, String)] = [("name", "dtype", "shape")]
        var elements = 0
        for name in tensors.keys.sorted() {
            let t = tensors[name]!
            table.append((name, "\(t.dtype)", "\(t.shape)"))
            elements += t.count
        }
        let w0 = table.map(\.0.count).max()!, w1 = table.map(\.1.count).max()!
        for (n, d, s) in table {
            print(n.padding(toLength: w0, withPad: " ", startingAt: 0) + "  " + d.padding(toLength: w1, withPad: " ", startingAt: 0) + "  " + s)
        }
        for c in checkpoint.conversions { print("converted: \(c)") }
        print("wrote \(tensors.count) tensors (\(elements) elements) to \(output)")
    }
}
