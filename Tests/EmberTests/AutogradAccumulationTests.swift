import XCTest
@testable import Ember

/// How backward sums a node's incoming gradients: in place into a tensor the engine owns,
/// and views that pick part of their input (split, narrow, select, unbind, diagonal) adding
/// straight into their input's pending gradient. The results must be the gradients of the
/// old out-of-place route, bit for bit, and no tensor handed to two places may change.
final class AutogradAccumulationTests: XCTestCase {
    func bits(_ t: Tensor?) -> [UInt32] { t?.toArray().map(\.bitPattern) ?? [] }

    /// Column indices as an int64 tensor, for the index-select route (a copy, not a view).
    func columns(_ r: Range<Int>) -> Tensor { Tensor(Array(r)) }

    /// x (4×9, through a node) split into q, k, v of 3 columns each, used by different ops,
    /// with x itself also used before and after the pieces.
    func splitModel(_ x0: Tensor, viaViews: Bool) -> Tensor {
        let x = x0 * 1.25
        let p = viaViews ? x.split(3, dim: 1)
                         : [0, 3, 6].map { x.indexSelect(dim: 1, index: columns($0..<($0 + 3))) }
        let a = x.tanh().sum(dim: 1, keepDim: true)
        return a * (p[0] * p[1]).tanh() + p[2].exp() * p[0] + x.sigmoid().narrowed(dim: 1, start: 2, length: 3)
    }

    func testSplitGradientsMatchFiniteDifferencesAndTheCopyRoute() {
        let values = testValues(36, seed: 3)
        let sig: (Double) -> Double = { 1 / (1 + Foundation.exp(-$0)) }
        gradCheck([tensor(values, [4, 9])], ember: { splitModel($0[0], viaViews: true) }, reference: { xs in
            let x = xs[0].map { $0 * 1.25 }
            return table(12) { k in
                let r = k / 3, c = k % 3, row = Array(x[(r * 9)..<(r * 9 + 9)])
                let a = row.map { Foundation.tanh($0) }.reduce(0, +)
                return a * Foundation.tanh(row[c] * row[3 + c]) + Foundation.exp(row[6 + c]) * row[c] + sig(row[2 + c])
            }
        })
        // The same function with the pieces copied out by indexSelect: the same bits.
        let w = Tensor(testValues(12, seed: 8), shape: [4, 3])
        var grads: [[UInt32]] = []
        for viaViews in [true, false] {
            let x0 = Tensor(values, shape: [4, 9]).requiringGrad()
            (splitModel(x0, viaViews: viaViews) * w).sum().backward()
            grads.append(bits(x0.grad))
        }
        XCTAssertEqual(grads[0].count, 36)
        XCTAssertEqual(grads[0], grads[1])
    }

    /// The GPT attention pattern: one linear gives qkv, split into three, each reshaped into
    /// heads and transposed; the gradients of the weights and the input must match the
    /// index-select route bit for bit.
    func testAttentionStyleSplitMatchesTheCopyRoute() {
        let (b, t, c, heads) = (2, 5, 8, 2)
        var results: [[[UInt32]]] = []
        for viaViews in [true, false] {
            let x = Tensor(testValues(b * t * c, seed: 11), shape: [b, t, c]).requiringGrad()
            let wt = Tensor(testValues(3 * c * c, seed: 12).map { $0 * 0.3 }, shape: [3 * c, c]).requiringGrad()
            let qkv = linear(x, wt)
            let p = viaViews ? qkv.split(c, dim: 2)
                             : [0, c, 2 * c].map { qkv.indexSelect(dim: 2, index: columns($0..<($0 + c))) }
            let h = p.map { $0.view(b, t, heads, c / heads).transposed(1, 2) }
            let (q, k, v) = (h[0], h[1], h[2])
            let att = q.matmul(k.transposed(-2, -1)).softmax(dim: -1)
            let y = att.matmul(v).transposed(1, 2).contiguous().view(b, t, c)
            (y * y + x).sum().backward()
            results.append([bits(x.grad), bits(wt.grad)])
        }
        XCTAssertEqual(results[0][0].count, b * t * c)
        XCTAssertEqual(results[0], results[1])
    }

    /// `x + y` hands one gradient tensor to both inputs. Here one input is x, whose pending
    /// gradient later takes view gradients; y is a leaf that keeps that very tensor as its
    /// grad. Adding the views' gradients into the shared tensor would change y.grad.
    func testSharedGradientTensorIsNeverWrittenInPlace() {
        for viewsFirst in [false, true] {
            let x0 = Tensor(testValues(6, seed: 21), shape: [2, 3]).requiringGrad()
            let y = Tensor(testValues(6, seed: 22), shape: [2, 3]).requiringGrad()
            let x = x0 * 2
            let a = x.narrowed(dim: 1, start: 0, length: 2), b = x.narrowed(dim: 1, start: 1, length: 2)
            let s = a + b                       // a and b receive the same tensor too
            let u = x + y
            let w = Tensor([1.0, 2, 3, 4, 5, 6], shape: [2, 3]), ws = Tensor([0.5, -1, 2, 0.25], shape: [2, 2])
            let loss = viewsFirst ? (s * ws).sum() + (u * w).sum() : (u * w).sum() + (s * ws).sum()
            loss.backward()
            XCTAssertEqual(y.grad!.toArray(), [1, 2, 3, 4, 5, 6])
            // dL/dx = w + ws in columns 0–1 + ws in columns 1–2, times 2 for x0.
            XCTAssertEqual(x0.grad!.toArray(), [3, 3, 4, 12, 14.5, 12.5])
        }
    }

    /// The same hazard without views: `x + y` gives x's node and the leaf y one tensor, which y
    /// keeps as its grad; x's node then receives more gradients (a plain one and a view's), in
    /// either order. (Under the engine's order, two nodes handed one tensor both run before
    /// either receives another gradient, so leaves and the seed are who could see a write.)
    func testLeafKeepsItsGradientWhileTheSiblingAccumulates() {
        for addFirst in [false, true] {
            let x0 = Tensor([1.0, 2, 3]).requiringGrad(), y = Tensor([0.0, 0, 0]).requiringGrad()
            let x = x0 * 1
            let uTerm = ((x + y) * Tensor([1.0, 1, 1])).sum()
            let others = (x * Tensor([4.0, 5, 6])).sum() + x[1].sum() * 7
            (addFirst ? others + uTerm : uTerm + others).backward()
            XCTAssertEqual(y.grad!.toArray(), [1, 1, 1], "addFirst \(addFirst)")
            XCTAssertEqual(x0.grad!.toArray(), [5, 13, 7], "addFirst \(addFirst)")
        }
    }

    /// Views of views (split, then select), unbind and diagonal, each with non-view uses of
    /// the same parent before and after: finite differences, and the index-select route's bits.
    func testViewsOfViewsUnbindAndDiagonal() {
        let values = testValues(24, seed: 31)
        // split then select: column 1 of the second piece is column 4 of x.
        gradCheck([tensor(values, [4, 6])], ember: { xs in
            let x = xs[0] * 1.5
            let col = x.split([3, 3], dim: 1)[1].select(dim: 1, index: 1)
            return x.exp().sum(dim: 1) * col + col.tanh()
        }, reference: { xs in
            table(4) { r in
                let row = xs[0][(r * 6)..<(r * 6 + 6)].map { $0 * 1.5 }
                return row.map { Foundation.exp($0) }.reduce(0, +) * row[4] + Foundation.tanh(row[4])
            }
        })
        gradCheck([tensor(values, [4, 6])], ember: { xs in
            let x = xs[0] * 1.5
            let rows = x.unbind(dim: 0)
            return rows[0] * rows[3] + rows[2].sin() + x.sum(dim: 0)
        }, reference: { xs in
            let x = xs[0].map { $0 * 1.5 }
            return table(6) { c in x[c] * x[18 + c] + Foundation.sin(x[12 + c]) + total(4) { x[$0 * 6 + c] } }
        })
        gradCheck([tensor(values, [4, 6])], ember: { xs in
            let x = xs[0] * 1.5
            // offset 1 has 4 entries, offset -1 has 3.
            return x.diagonal(offset: 1).narrowed(dim: 0, start: 0, length: 3) * x.diagonal(offset: -1).tanh()
        }, reference: { xs in
            let x = xs[0].map { $0 * 1.5 }
            return table(3) { i in x[i * 6 + i + 1] * Foundation.tanh(x[(i + 1) * 6 + i]) }
        })

        // Bits against the index-select route (x reshaped flat, then picked by index).
        let w = Tensor(testValues(12, seed: 32), shape: [2, 6])
        var grads: [[UInt32]] = []
        for viaViews in [true, false] {
            let x0 = Tensor(values, shape: [4, 6]).requiringGrad()
            let x = x0 * 1.5
            let before = x.sigmoid() * 3
            let pick: ([Int]) -> Tensor = { x.reshaped(-1).indexSelect(dim: 0, index: Tensor($0)) }
            let col = viaViews ? x.split([3, 3], dim: 1)[1].select(dim: 1, index: 1) : pick([4, 10, 16, 22])
            let row2 = viaViews ? x.unbind(dim: 0)[2] : pick(Array(12..<18))
            let diag = viaViews ? x.diagonal(offset: 1) : pick([1, 8, 15, 22])
            let after = x.exp()
            let y = Tensor.cat([row2 * col.sum(), (diag * col).tanh(), col.exp().narrowed(dim: 0, start: 0, length: 2)])
                .reshaped(2, 6)
            ((y * w).sum() + (before * after).sum()).backward()
            grads.append(bits(x0.grad))
        }
        XCTAssertEqual(grads[0].count, 24)
        XCTAssertEqual(grads[0], grads[1])
    }

    /// A view whose input is a leaf keeps the old route (a full gradient of the leaf's shape).
    func testViewsOfALeaf() {
        let x = Tensor(testValues(12, seed: 41), shape: [3, 4]).requiringGrad()
        let p = x.split(2, dim: 1)
        (p[0] * 2 + p[1] * 3 + x.select(dim: 0, index: 1).sum()).sum().backward()
        XCTAssertEqual(x.grad!.toArray(), [2, 2, 3, 3, 8, 8, 9, 9, 2, 2, 3, 3])
    }

    /// Two backward passes over one graph add twice the gradient (nothing owned or pending
    /// survives a pass). Ember has no retain_graph switch: graphs are always kept.
    func testRepeatedBackwardAddsTheSameGradientAgain() {
        let x0 = Tensor(testValues(36, seed: 51), shape: [4, 9]).requiringGrad()
        let loss = splitModel(x0, viaViews: true).sum()
        loss.backward()
        let once = x0.grad!.toArray()
        loss.backward()
        XCTAssertEqual(bits(x0.grad), once.map { ($0 + $0).bitPattern })
    }

    /// The user's seed gradient and a backward closure's returned gradient are never written:
    /// the seed reaches a node with two consumers and a view of it.
    func testSeedGradientIsNotModified() {
        let x0 = Tensor(testValues(6, seed: 61), shape: [6]).requiringGrad()
        let x = x0 * 1
        let y = x + x.narrowed(dim: 0, start: 0, length: 6)   // full narrow: x itself, no node
        let z = y * 1
        let seed = Tensor([1.0, 2, 3, 4, 5, 6])
        let out = z + z.narrowed(dim: 0, start: 1, length: 5).sum()
        out.backward(seed)
        XCTAssertEqual(seed.toArray(), [1, 2, 3, 4, 5, 6])
        // dz = seed + 21 on elements 1…5; dx = 2·dz.
        XCTAssertEqual(x0.grad!.toArray(), [2, 46, 48, 50, 52, 54])
    }
}
