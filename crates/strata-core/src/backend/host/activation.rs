//! Every [`Unary`] op's host formula, as Keras defines it, and its derivative
//! (as a function of the input `x` and the output `y`).

use super::arith::map_unary;
use crate::backend::Unary;
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

/// `op` applied to every element of `x`, each op with its own loop.
pub(crate) fn unary(op: Unary, x: &Tensor) -> Tensor {
    match op {
        Unary::Relu => map_unary("relu", x, |x| x.max(0.0), |x, _| if x > 0.0 { 1.0 } else { 0.0 }),
        Unary::Relu6 => map_unary("relu6", x, |x| x.clamp(0.0, 6.0), |x, _| if x > 0.0 && x < 6.0 { 1.0 } else { 0.0 }),
        Unary::ReluWith { negative_slope, max_value, threshold } => relu_with(x, negative_slope, max_value, threshold),
        Unary::LeakyRelu(slope) => map_unary("leaky_relu", x, move |x| if x >= 0.0 { x } else { slope * x }, move |x, _| if x >= 0.0 { 1.0 } else { slope }),
        Unary::Elu(alpha) => map_unary("elu", x, move |x| if x > 0.0 { x } else { alpha * x.exp_m1() }, move |x, y| if x > 0.0 { 1.0 } else { y + alpha }),
        Unary::Selu => map_unary(
            "selu",
            x,
            |x| SELU_SCALE * if x > 0.0 { x } else { SELU_ALPHA * x.exp_m1() },
            |x, _| if x > 0.0 { SELU_SCALE } else { SELU_SCALE * SELU_ALPHA * x.exp() },
        ),
        Unary::Sigmoid => map_unary("sigmoid", x, sigmoid, |_, y| y * (1.0 - y)),
        Unary::Tanh => map_unary("tanh", x, f32::tanh, |_, y| 1.0 - y * y),
        Unary::Softplus => map_unary("softplus", x, softplus, |x, _| sigmoid(x)),
        Unary::Softsign => map_unary("softsign", x, |x| x / (x.abs() + 1.0), |x, _| 1.0 / ((x.abs() + 1.0) * (x.abs() + 1.0))),
        Unary::Silu => map_unary("silu", x, |x| x * sigmoid(x), |x, _| {
            let s = sigmoid(x);
            s + x * s * (1.0 - s)
        }),
        Unary::HardSigmoid => map_unary("hard_sigmoid", x, |x| ((x + 3.0) / 6.0).clamp(0.0, 1.0), |x, _| if x > -3.0 && x < 3.0 { 1.0 / 6.0 } else { 0.0 }),
        Unary::HardSilu => map_unary("hard_silu", x, |x| x * ((x + 3.0) / 6.0).clamp(0.0, 1.0), |x, _| {
            if x <= -3.0 {
                0.0
            } else if x >= 3.0 {
                1.0
            } else {
                (2.0 * x + 3.0) / 6.0
            }
        }),
        Unary::Mish => map_unary("mish", x, |x| x * softplus(x).tanh(), |x, _| {
            let t = softplus(x).tanh();
            t + x * (1.0 - t * t) * sigmoid(x)
        }),
        Unary::GeluTanh => map_unary("gelu_tanh", x, |x| 0.5 * x * (1.0 + (SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x)).tanh()), |x, _| {
            let t = (SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x)).tanh();
            0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044_715 * x * x)
        }),
        Unary::Gelu => map_unary("gelu", x, |x| 0.5 * x * (1.0 + erf(x / std::f32::consts::SQRT_2)), |x, _| {
            let cdf = 0.5 * (1.0 + erf(x / std::f32::consts::SQRT_2));
            let pdf = (-0.5 * x * x).exp() / (2.0 * std::f32::consts::PI).sqrt();
            cdf + x * pdf
        }),
        Unary::Scale(s) => map_unary("scale", x, move |x| x * s, move |_, _| s),
        Unary::AddScalar(s) => map_unary("add_scalar", x, move |x| x + s, |_, _| 1.0),
        Unary::Square => map_unary("square", x, |x| x * x, |x, _| 2.0 * x),
        Unary::Exp => map_unary("exp", x, f32::exp, |_, y| y),
        Unary::Log => map_unary("log", x, f32::ln, |x, _| 1.0 / x),
        Unary::Powf(e) => map_unary("powf", x, move |x| x.powf(e), move |x, _| e * x.powf(e - 1.0)),
        Unary::Abs => map_unary("abs", x, f32::abs, |x, _| if x > 0.0 { 1.0 } else if x < 0.0 { -1.0 } else { 0.0 }),
        Unary::Sqrt => map_unary("sqrt", x, f32::sqrt, |_, y| 0.5 / y),
        Unary::LogCosh => {
            let ln2 = std::f32::consts::LN_2;
            map_unary("log_cosh", x, move |x| x.abs() + (-2.0 * x.abs()).exp().ln_1p() - ln2, |x, _| x.tanh())
        }
        Unary::Clip(low, high) => map_unary("clip", x, move |x| x.clamp(low, high), move |x, _| if x >= low && x <= high { 1.0 } else { 0.0 }),
    }
}

/// Keras's general `relu(x, negative_slope, max_value, threshold)`.
fn relu_with(x: &Tensor, negative_slope: f32, max_value: Option<f32>, threshold: f32) -> Tensor {
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
    map_unary("relu_with", x, f, df)
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
