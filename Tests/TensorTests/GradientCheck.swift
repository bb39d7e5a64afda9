// Central finite-difference checking shared by the layer tests: loss = Σ output ⊙ R for a fixed random R.
import Tensor
import TestSupport
import XCTest

/// Compares analytic gradients with central differences `(L(x+ε) − L(x−ε)) / 2ε`, element by element, relative
/// to the gradient's own scale: |numeric − analytic| ≤ tolerance · max_j |numeric_j| (an absolute error of 0.02
/// would pass any gradient below 1, however wrong). A gradient that is zero everywhere must be zero analytically.
func assertGradientsMatch(
    _ label: String, analytic: [Float], count: Int, perturb: (Int, Float) -> Void, loss: () -> Double,
    eps: Float = 1e-2, tolerance: Double = 2e-2, file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(analytic.count, count, "\(label): gradient size", file: file, line: line)
    var numeric = [Double](repeating: 0, count: count)
    for i in 0..<count {
        perturb(i, eps)
        let plus = loss()
        perturb(i, -2 * eps)
        let minus = loss()
        perturb(i, eps)
        numeric[i] = (plus - minus) / (2 * Double(eps))
    }
    let scale = numeric.reduce(0) { max($0, abs($1)) }
    var worst = 0.0
    for i in 0..<count {
        let err = abs(numeric[i] - Double(analytic[i])) / max(scale, 1e-12)
        worst = max(worst, err)
        if err > tolerance {
            XCTFail("\(label)[\(i)]: analytic \(analytic[i]) vs numeric \(numeric[i]) (gradient scale \(scale))", file: file, line: line)
            return
        }
    }
    XCTAssertLessThanOrEqual(worst, tolerance, label, file: file, line: line)
}

/// Σ a·b in Double.
func weightedSum(_ a: Tensor, _ b: Tensor) -> Double {
    zip(a.data, b.data).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
}

/// Checks dInput and every parameter gradient of a one-input layer against finite differences.
func checkLayer(
    _ label: String, layer: any Layer, store: ParameterStore?, input: Tensor, seed: UInt64 = 1,
    eps: Float = 1e-2, tolerance: Double = 2e-2, file: StaticString = #filePath, line: UInt = #line
) {
    var rng = SeededGenerator(seed: seed)
    var x = input
    let probe = layer.forward(x)
    let r = Tensor(randomNormal: probe.shape, using: &rng)
    store?.zeroGradients()
    _ = layer.forward(x)
    let dx = layer.backward(r)
    let loss = { weightedSum(layer.forward(x), r) }
    assertGradientsMatch("\(label) dInput", analytic: dx.data, count: x.count,
                         perturb: { x.data[$0] += $1 }, loss: loss, eps: eps, tolerance: tolerance, file: file, line: line)
    if let store {
        let grads = store.gradients
        assertGradientsMatch("\(label) dParameters", analytic: grads, count: store.count,
                             perturb: { store.values[$0] += $1 }, loss: loss, eps: eps, tolerance: tolerance, file: file, line: line)
    }
}
