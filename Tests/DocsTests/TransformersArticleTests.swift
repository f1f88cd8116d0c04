import XCTest
import Ember

/// Sources/Ember/Ember.docc/Transformers.md
final class TransformersArticleTests: ArticleTestCase {
    func testEncoderAndAttention() {
        manualSeed(0)
        let embedding = Embedding(100, 32)
        let layer = TransformerEncoderLayer(dModel: 32, nhead: 4, dimFeedforward: 64, dropout: 0, batchFirst: true)
        let encoder = TransformerEncoder(layer, numLayers: 2, norm: LayerNorm(32))
        let tokens = Tensor.randint(0, 100, [2, 10])
        let mask = Transformer.generateSquareSubsequentMask(10)
        let hidden = encoder(embedding(tokens), mask: mask)
        print(hidden.shape)

        XCTAssertEqual(hidden.shape, [2, 10, 32])
        XCTAssertEqual(mask[0, 1].item(), -Double.infinity)
        XCTAssertEqual(mask[1, 0].item(), 0)
        XCTAssert(encoder.stateDictKeys().contains("layers.1.self_attn.in_proj_weight"))
        // Causal: changing the last token changes only the last position.
        let changed = tokens.clone()
        changed[.all, 9] = Tensor((tokens[0, 9].toIntArray()[0] + 1) % 100)
        let other = encoder(embedding(changed), mask: mask)
        XCTAssertEqual(other[.all, 0..<9].toArray(), hidden[.all, 0..<9].toArray())
        XCTAssertNotEqual(other[.all, 9].toArray(), hidden[.all, 9].toArray())

        let attention = MultiheadAttention(embedDim: 32, numHeads: 4, batchFirst: true)
        let (attended, weights) = attention(hidden, hidden, hidden)
        let q = Tensor.randn([2, 4, 10, 8])
        let causal = scaledDotProductAttention(query: q, key: q, value: q, isCausal: true)

        XCTAssertEqual(attended.shape, [2, 10, 32])
        XCTAssertEqual(weights?.shape, [2, 10, 10])
        XCTAssertEqual(causal.shape, [2, 4, 10, 8])
        // The first position attends only to itself.
        XCTAssertEqual(causal[.all, .all, 0].toArray(), q[.all, .all, 0].toArray())
    }
}
