import XCTest
@testable import Ember

/// Finite-difference checks of every differentiable op against a double-precision reference.
/// Σ_{j<n} f(j), typed so that reference closures type-check quickly.
func total(_ n: Int, _ f: (Int) -> Double) -> Double {
    var s = 0.0
    for j in 0..<n { s += f(j) }
    return s
}

func table(_ n: Int, _ f: (Int) -> Double) -> [Double] { (0..<n).map(f) }

final class GradCheckTests: XCTestCase {
    func v(_ n: Int, _ seed: UInt64) -> [Double] { testValues(n, seed: seed) }

    func testAddSubMulDivWithBroadcasting() {
        let a = v(6, 1), b = v(3, 2).map { $0 + 2 }   // b away from 0 for division
        // (2,3) ∘ (3): b broadcasts over rows; its gradient sums over them.
        gradCheck([tensor(a, [2, 3]), tensor(b, [3])], ember: { $0[0] + $0[1] },
                  reference: { x in (0..<6).map { x[0][$0] + x[1][$0 % 3] } })
        gradCheck([tensor(a, [2, 3]), tensor(b, [3])], ember: { $0[0] - $0[1] },
                  reference: { x in (0..<6).map { x[0][$0] - x[1][$0 % 3] } })
        gradCheck([tensor(a, [2, 3]), tensor(b, [3])], ember: { $0[0] * $0[1] },
                  reference: { x in (0..<6).map { x[0][$0] * x[1][$0 % 3] } })
        gradCheck([tensor(a, [2, 3]), tensor(b, [3])], ember: { $0[0] / $0[1] },
                  reference: { x in (0..<6).map { x[0][$0] / x[1][$0 % 3] } })
        // (2,1) ∘ (1,3) → (2,3): both broadcast.
        gradCheck([tensor(Array(a[0..<2]), [2, 1]), tensor(b, [1, 3])], ember: { $0[0] * $0[1] },
                  reference: { x in (0..<6).map { x[0][$0 / 3] * x[1][$0 % 3] } })
        gradCheck([tensor(a, [2, 3])], ember: { 3 - $0[0] * 2 }, reference: { x in x[0].map { 3 - 2 * $0 } })
        gradCheck([tensor(a, [6])], ember: { -$0[0] }, reference: { x in x[0].map { -$0 } })
    }

    func testUnaryMaps() {
        let pos = v(5, 3).map { $0 + 1.5 }, any = v(5, 4)
        gradCheck([tensor(any, [5])], ember: { $0[0].exp() }, reference: { $0[0].map { Foundation.exp($0) } })
        gradCheck([tensor(pos, [5])], ember: { $0[0].log() }, reference: { $0[0].map { Foundation.log($0) } })
        gradCheck([tensor(pos, [5])], ember: { $0[0].sqrt() }, reference: { $0[0].map { Foundation.sqrt($0) } })
        gradCheck([tensor(any, [5])], ember: { $0[0].abs() }, reference: { $0[0].map { Swift.abs($0) } })
        gradCheck([tensor(any, [5])], ember: { $0[0].tanh() }, reference: { $0[0].map { Foundation.tanh($0) } })
        gradCheck([tensor(any, [5])], ember: { $0[0].sigmoid() }, reference: { $0[0].map { 1 / (1 + Foundation.exp(-$0)) } })
        gradCheck([tensor(pos, [5])], ember: { $0[0].pow(3) }, reference: { $0[0].map { $0 * $0 * $0 } })
        // d/de a^e = a^e ln a
        gradCheck([tensor(pos, [5]), tensor(any, [5])], ember: { $0[0].pow($0[1]) },
                  reference: { x in (0..<5).map { Foundation.pow(x[0][$0], x[1][$0]) } })
        gradCheck([tensor(any, [5]), tensor(v(5, 9), [5])], ember: { Tensor.maximum($0[0], $0[1]) },
                  reference: { x in (0..<5).map { Swift.max(x[0][$0], x[1][$0]) } })
        gradCheck([tensor(any, [5]), tensor(v(5, 9), [5])], ember: { Tensor.minimum($0[0], $0[1]) },
                  reference: { x in (0..<5).map { Swift.min(x[0][$0], x[1][$0]) } })
    }

    func testReductions() {
        let a = v(24, 5)
        gradCheck([tensor(a, [2, 3, 4])], ember: { $0[0].sum() }, reference: { [$0[0].reduce(0, +)] })
        gradCheck([tensor(a, [2, 3, 4])], ember: { $0[0].mean() }, reference: { [$0[0].reduce(0, +) / 24] })
        // sum over the middle dim of (2,3,4): out[o][j] = Σ_d x[o][d][j]
        gradCheck([tensor(a, [2, 3, 4])], ember: { $0[0].sum(dim: 1) }, reference: { x in
            table(8) { k in total(3) { d in x[0][(k / 4) * 12 + d * 4 + k % 4] } }
        })
        gradCheck([tensor(a, [2, 3, 4])], ember: { $0[0].mean(dim: -1) }, reference: { x in
            table(6) { r in total(4) { j in x[0][r * 4 + j] } / 4 }
        })
        gradCheck([tensor(a, [2, 3, 4])], ember: { $0[0].sum(dims: [0, 2]) }, reference: { x in
            table(3) { d in total(8) { k in x[0][(k / 4) * 12 + d * 4 + k % 4] } }
        })
        gradCheck([tensor(a, [4, 6])], ember: { $0[0].max(dim: 1).values }, reference: { x in
            (0..<4).map { r in x[0][(r * 6)..<(r * 6 + 6)].max()! }
        })
    }

    func testMatmulAndLinear() {
        let a = v(12, 11), b = v(20, 12), bias = v(5, 13)
        gradCheck([tensor(a, [3, 4]), tensor(b, [4, 5])], ember: { $0[0].matmul($0[1]) }, reference: { x in
            table(15) { k in total(4) { j in x[0][(k / 5) * 4 + j] * x[1][j * 5 + k % 5] } }
        })
        // linear: y = x·Wᵀ + b with W (5,4)
        gradCheck([tensor(a, [3, 4]), tensor(b, [5, 4]), tensor(bias, [5])], ember: { linear($0[0], $0[1], $0[2]) },
                  reference: { x in
                      table(15) { k in
                          let i = k / 5, o = k % 5
                          return x[2][o] + total(4) { j in x[0][i * 4 + j] * x[1][o * 4 + j] }
                      }
                  })
        gradCheck([tensor(a, [3, 4]), tensor(b, [5, 4])], ember: { linear($0[0], $0[1]) }, reference: { x in
            table(15) { k in total(4) { j in x[0][(k / 5) * 4 + j] * x[1][(k % 5) * 4 + j] } }
        })
        gradCheck([tensor(Array(a[0..<4]), [4]), tensor(b, [4, 5])], ember: { $0[0].matmul($0[1]) }, reference: { x in
            table(5) { j in total(4) { i in x[0][i] * x[1][i * 5 + j] } }
        })
    }

    func testActivations() {
        // Values away from 0 so that relu's kink is not straddled by ±h.
        let a = v(12, 21).map { $0 < 0 ? $0 - 0.1 : $0 + 0.1 }
        gradCheck([tensor(a, [3, 4])], ember: { $0[0].relu() }, reference: { $0[0].map { Swift.max($0, 0) } })
        func softmaxRows(_ x: [Double], _ cols: Int, log: Bool) -> [Double] {
            stride(from: 0, to: x.count, by: cols).flatMap { s -> [Double] in
                let row = x[s..<(s + cols)], m = row.max()!
                let z = row.map { Foundation.exp($0 - m) }.reduce(0, +)
                return row.map { log ? $0 - m - Foundation.log(z) : Foundation.exp($0 - m) / z }
            }
        }
        gradCheck([tensor(a, [3, 4])], ember: { $0[0].softmax(dim: 1) }, reference: { softmaxRows($0[0], 4, log: false) })
        gradCheck([tensor(a, [3, 4])], ember: { $0[0].logSoftmax(dim: -1) }, reference: { softmaxRows($0[0], 4, log: true) })
        // softmax over dim 0 of (3,4) = softmax over rows of the transpose, transposed back.
        gradCheck([tensor(a, [3, 4])], ember: { $0[0].softmax(dim: 0) }, reference: { x in
            let t = (0..<12).map { x[0][($0 % 3) * 4 + $0 / 3] }
            let s = softmaxRows(t, 3, log: false)
            return (0..<12).map { s[($0 % 4) * 3 + $0 / 4] }
        })
    }

    func testDropoutGradientIsItsMask() {
        let x = Tensor.ones([1000]).requiringGrad()
        let y = x.dropout(p: 0.25, generator: Generator(seed: 5))
        y.sum().backward()
        // dy/dx is the mask: 0 for dropped, 1/(1-p) for kept — the same numbers as y here.
        XCTAssertEqual(x.grad!.toArray(), y.toArray())
        let kept = y.toArray().filter { $0 != 0 }
        XCTAssert(kept.allSatisfy { abs($0 - 4.0 / 3.0) < 1e-6 })
        XCTAssert((700...800).contains(kept.count), "kept \(kept.count) of 1000 at p=0.25")
    }

    /// Double-precision cross-entropy with PyTorch's weight and label-smoothing definitions.
    func referenceCE(_ x: [Double], _ t: [Int], _ c: Int, _ w: [Double]?, _ eps: Double, _ red: Reduction) -> [Double] {
        let n = t.count
        var losses: [Double] = [], wsum = 0.0
        for i in 0..<n {
            let row = Array(x[(i * c)..<(i * c + c)]), m = row.max()!
            let lse = m + Foundation.log(row.map { Foundation.exp($0 - m) }.reduce(0, +))
            let wt = w?[t[i]] ?? 1
            var l = (1 - eps) * wt * (lse - row[t[i]])
            l += eps / Double(c) * total(c) { k in (w?[k] ?? 1) * (lse - row[k]) }
            losses.append(l)
            wsum += wt
        }
        switch red {
        case .none: return losses
        case .sum: return [losses.reduce(0, +)]
        case .mean: return [losses.reduce(0, +) / wsum]
        }
    }

    func testCrossEntropyAllVariants() {
        let x = v(20, 31).map { $0 * 3 }, t = [3, 0, 4, 1], w = [0.5, 1.0, 2.0, 1.5, 0.25]
        for red in [Reduction.mean, .sum, .none] {
            for weighted in [false, true] {
                for eps in [0.0, 0.1] {
                    let wt = weighted ? Tensor(w) : nil
                    gradCheck([tensor(x, [4, 5])],
                              ember: { crossEntropy($0[0], Tensor(t), weight: wt, reduction: red, labelSmoothing: eps) },
                              reference: { referenceCE($0[0], t, 5, weighted ? w : nil, eps, red) })
                }
            }
        }
    }

    func testNLLAndMSE() {
        let x = v(12, 41), t = [2, 0, 3], w = [1.0, 2.0, 0.5, 3.0]
        for red in [Reduction.mean, .sum, .none] {
            gradCheck([tensor(x, [3, 4])], ember: { nllLoss($0[0], Tensor(t), weight: Tensor(w), reduction: red) },
                      reference: { xs in
                          let l = (0..<3).map { -w[t[$0]] * xs[0][$0 * 4 + t[$0]] }
                          switch red {
                          case .none: return l
                          case .sum: return [l.reduce(0, +)]
                          case .mean: return [l.reduce(0, +) / t.map { w[$0] }.reduce(0, +)]
                          }
                      })
        }
        gradCheck([tensor(x, [3, 4]), tensor(v(12, 42), [3, 4])], ember: { mseLoss($0[0], $0[1]) }, reference: { xs in
            [total(12) { k in Foundation.pow(xs[0][k] - xs[1][k], 2) } / 12]
        })
    }

    func testViewsAndCopies() {
        let a = v(24, 51)
        gradCheck([tensor(a, [2, 3, 4])], ember: { $0[0].reshaped([6, 4]) * 2 }, reference: { $0[0].map { $0 * 2 } })
        gradCheck([tensor(a, [2, 3, 4])], ember: { $0[0].flattened(startDim: 1) }, reference: { $0[0] })
        gradCheck([tensor(a, [6, 4])], ember: { $0[0][1..<3] * 3 }, reference: { Array($0[0][4..<12]).map { $0 * 3 } })
        gradCheck([tensor(a, [6, 4])], ember: { $0[0][5] }, reference: { Array($0[0][20..<24]) })
        gradCheck([tensor(a, [6, 4])], ember: { $0[0].transposed() }, reference: { x in (0..<24).map { x[0][($0 % 6) * 4 + $0 / 6] } })
        gradCheck([tensor(Array(a[0..<4]), [4])], ember: { $0[0].expanded(to: [3, 4]) }, reference: { x in (0..<12).map { x[0][$0 % 4] } })
        gradCheck([tensor(Array(a[0..<8]), [2, 4]), tensor(Array(a[8..<20]), [3, 4])], ember: { Tensor.cat([$0[0], $0[1]]) },
                  reference: { $0[0] + $0[1] })
    }

    func testGradientFlowsThroughReusedTensor() {
        // y = x·x + x  →  dy/dx = 2x + 1 (x used three times: gradients must add, not overwrite)
        let x = Tensor([1.5, -2.0, 0.25]).requiringGrad()
        (x * x + x).sum().backward()
        XCTAssertEqual(x.grad!.toArray(), [4.0, -3.0, 1.5])
    }
}
