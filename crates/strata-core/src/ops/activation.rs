//! Activation functions as element-wise ops, each with Keras's formula and
//! its derivative (as a function of the input `x` and the output `y`).

use super::arith::unary;
use crate::tensor::Tensor;

/// SELU's constants, as Keras defines them.
const SELU_ALPHA: f32 = 1.673_263_2;
const SELU_SCALE: f32 = 1.050_701;

fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `log(1 + eˣ)` without overflow.
fn softplus(x: f32) -> f32 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// The error function, by the Chebyshev-fitted erfc expansion of Numerical
/// Recipes (`erfcc`), evaluated in f64: |error| < 1.2e-7, below f32's precision.
fn erf(x: f32) -> f32 {
    let x = x as f64;
    let t = 1.0 / (1.0 + 0.5 * x.abs());
    let poly = -x * x - 1.265_512_23
        + t * (1.000_023_68 + t * (0.374_091_96 + t * (0.096_784_18 + t * (-0.186_288_06 + t * (0.278_868_07 + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    (if x >= 0.0 { 1.0 - erfc } else { erfc - 1.0 }) as f32
}

const SQRT_2_OVER_PI: f32 = 0.797_884_6;

impl Tensor {
    /// `max(x, 0)`.
    pub fn relu(&self) -> Tensor {
        unary("relu", self, |x| x.max(0.0), |x, _| if x > 0.0 { 1.0 } else { 0.0 })
    }
    /// `min(max(x, 0), 6)`.
    pub fn relu6(&self) -> Tensor {
        unary("relu6", self, |x| x.clamp(0.0, 6.0), |x, _| if x > 0.0 && x < 6.0 { 1.0 } else { 0.0 })
    }
    /// Keras's general `relu(x, negative_slope, max_value, threshold)`: `x` above
    /// `threshold` (clipped to `max_value`), `negative_slope · (x - threshold)` below it.
    pub fn relu_with(&self, negative_slope: f32, max_value: Option<f32>, threshold: f32) -> Tensor {
        // As Keras: the part above the threshold is kept (clipped to [0, max_value] only when given).
        let above = move |x: f32| if threshold != 0.0 { x > threshold } else { x > 0.0 };
        let f = move |x: f32| {
            let positive = if above(x) { x } else { 0.0 };
            let positive = max_value.map_or(positive, |m| positive.clamp(0.0, m));
            positive - negative_slope * (threshold - x).max(0.0)
        };
        let df = move |x: f32, _: f32| {
            let inside = max_value.is_none_or(|m| (0.0..m).contains(&x));
            let positive = if above(x) && inside { 1.0 } else { 0.0 };
            positive + if x < threshold { negative_slope } else { 0.0 }
        };
        unary("relu_with", self, f, df)
    }
    /// `x` for `x >= 0`, else `negative_slope · x` (Keras's default slope: 0.2).
    pub fn leaky_relu(&self, negative_slope: f32) -> Tensor {
        unary("leaky_relu", self, move |x| if x >= 0.0 { x } else { negative_slope * x }, move |x, _| if x >= 0.0 { 1.0 } else { negative_slope })
    }
    /// `x` for `x > 0`, else `alpha · (eˣ - 1)`.
    pub fn elu(&self, alpha: f32) -> Tensor {
        unary("elu", self, move |x| if x > 0.0 { x } else { alpha * x.exp_m1() }, move |x, y| if x > 0.0 { 1.0 } else { y + alpha })
    }
    /// Scaled ELU with Keras's fixed constants.
    pub fn selu(&self) -> Tensor {
        unary(
            "selu",
            self,
            |x| SELU_SCALE * if x > 0.0 { x } else { SELU_ALPHA * x.exp_m1() },
            |x, _| if x > 0.0 { SELU_SCALE } else { SELU_SCALE * SELU_ALPHA * x.exp() },
        )
    }
    /// `1 / (1 + e⁻ˣ)`, computed without overflow for large |x|.
    pub fn sigmoid(&self) -> Tensor {
        unary("sigmoid", self, sigmoid, |_, y| y * (1.0 - y))
    }
    /// Hyperbolic tangent.
    pub fn tanh(&self) -> Tensor {
        unary("tanh", self, f32::tanh, |_, y| 1.0 - y * y)
    }
    /// `log(1 + eˣ)`.
    pub fn softplus(&self) -> Tensor {
        unary("softplus", self, softplus, |x, _| sigmoid(x))
    }
    /// `x / (|x| + 1)`.
    pub fn softsign(&self) -> Tensor {
        unary("softsign", self, |x| x / (x.abs() + 1.0), |x, _| 1.0 / ((x.abs() + 1.0) * (x.abs() + 1.0)))
    }
    /// `x · sigmoid(x)` (swish / silu).
    pub fn silu(&self) -> Tensor {
        unary("silu", self, |x| x * sigmoid(x), |x, _| {
            let s = sigmoid(x);
            s + x * s * (1.0 - s)
        })
    }
    /// `relu6(x + 3) / 6`, Keras 3's piecewise-linear sigmoid.
    pub fn hard_sigmoid(&self) -> Tensor {
        unary("hard_sigmoid", self, |x| ((x + 3.0) / 6.0).clamp(0.0, 1.0), |x, _| if x > -3.0 && x < 3.0 { 1.0 / 6.0 } else { 0.0 })
    }
    /// `x · hard_sigmoid(x)` (hard swish / hard silu).
    pub fn hard_silu(&self) -> Tensor {
        unary("hard_silu", self, |x| x * ((x + 3.0) / 6.0).clamp(0.0, 1.0), |x, _| {
            if x <= -3.0 {
                0.0
            } else if x >= 3.0 {
                1.0
            } else {
                (2.0 * x + 3.0) / 6.0
            }
        })
    }
    /// `x · tanh(softplus(x))`.
    pub fn mish(&self) -> Tensor {
        unary("mish", self, |x| x * softplus(x).tanh(), |x, _| {
            let t = softplus(x).tanh();
            t + x * (1.0 - t * t) * sigmoid(x)
        })
    }
    /// Gaussian error linear unit: exactly `x · Φ(x)`, or with `approximate`
    /// the tanh form `0.5x(1 + tanh(√(2/π)(x + 0.044715x³)))`.
    pub fn gelu(&self, approximate: bool) -> Tensor {
        if approximate {
            unary("gelu_tanh", self, |x| 0.5 * x * (1.0 + (SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x)).tanh()), |x, _| {
                let t = (SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x)).tanh();
                0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044_715 * x * x)
            })
        } else {
            unary("gelu", self, |x| 0.5 * x * (1.0 + erf(x / std::f32::consts::SQRT_2)), |x, _| {
                let cdf = 0.5 * (1.0 + erf(x / std::f32::consts::SQRT_2));
                let pdf = (-0.5 * x * x).exp() / (2.0 * std::f32::consts::PI).sqrt();
                cdf + x * pdf
            })
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn erf_matches_known_values() {
        for (x, e) in [(0.0f32, 0.0f32), (0.5, 0.520_499_9), (1.0, 0.842_700_8), (2.0, 0.995_322_3), (-1.5, -0.966_105_16)] {
            assert!((super::erf(x) - e).abs() < 2e-7, "erf({x}) = {} vs {e}", super::erf(x));
        }
    }
}
