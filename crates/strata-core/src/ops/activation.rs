//! Activation functions, element-wise, as Keras defines them (formulas and
//! derivatives: `backend/host/activation.rs`).

use crate::backend::Unary;
use crate::tensor::Tensor;

impl Tensor {
    fn unary(&self, op: Unary) -> Tensor {
        self.backend().unary(op, self)
    }
    /// `max(x, 0)`.
    pub fn relu(&self) -> Tensor {
        self.unary(Unary::Relu)
    }
    /// `min(max(x, 0), 6)`.
    pub fn relu6(&self) -> Tensor {
        self.unary(Unary::Relu6)
    }
    /// Keras's general `relu(x, negative_slope, max_value, threshold)`: `x` above
    /// `threshold` (clipped to `max_value`), `negative_slope · (x - threshold)` below it.
    pub fn relu_with(&self, negative_slope: f32, max_value: Option<f32>, threshold: f32) -> Tensor {
        self.unary(Unary::ReluWith { negative_slope, max_value, threshold })
    }
    /// `x` for `x >= 0`, else `negative_slope · x` (Keras's default slope: 0.2).
    pub fn leaky_relu(&self, negative_slope: f32) -> Tensor {
        self.unary(Unary::LeakyRelu(negative_slope))
    }
    /// `x` for `x > 0`, else `alpha · (eˣ - 1)`.
    pub fn elu(&self, alpha: f32) -> Tensor {
        self.unary(Unary::Elu(alpha))
    }
    /// Scaled ELU with Keras's fixed constants.
    pub fn selu(&self) -> Tensor {
        self.unary(Unary::Selu)
    }
    /// `1 / (1 + e⁻ˣ)`, computed without overflow for large |x|.
    pub fn sigmoid(&self) -> Tensor {
        self.unary(Unary::Sigmoid)
    }
    /// Hyperbolic tangent.
    pub fn tanh(&self) -> Tensor {
        self.unary(Unary::Tanh)
    }
    /// `log(1 + eˣ)`.
    pub fn softplus(&self) -> Tensor {
        self.unary(Unary::Softplus)
    }
    /// `x / (|x| + 1)`.
    pub fn softsign(&self) -> Tensor {
        self.unary(Unary::Softsign)
    }
    /// `x · sigmoid(x)` (swish / silu).
    pub fn silu(&self) -> Tensor {
        self.unary(Unary::Silu)
    }
    /// `relu6(x + 3) / 6`, Keras 3's piecewise-linear sigmoid.
    pub fn hard_sigmoid(&self) -> Tensor {
        self.unary(Unary::HardSigmoid)
    }
    /// `x · hard_sigmoid(x)` (hard swish / hard silu).
    pub fn hard_silu(&self) -> Tensor {
        self.unary(Unary::HardSilu)
    }
    /// `x · tanh(softplus(x))`.
    pub fn mish(&self) -> Tensor {
        self.unary(Unary::Mish)
    }
    /// Gaussian error linear unit: exactly `x · Φ(x)`, or with `approximate`
    /// the tanh form `0.5x(1 + tanh(√(2/π)(x + 0.044715x³)))`.
    pub fn gelu(&self, approximate: bool) -> Tensor {
        self.unary(if approximate { Unary::GeluTanh } else { Unary::Gelu })
    }
    /// `self * s`.
    pub fn scale(&self, s: f32) -> Tensor {
        self.unary(Unary::Scale(s))
    }
    /// `self + s`.
    pub fn add_scalar(&self, s: f32) -> Tensor {
        self.unary(Unary::AddScalar(s))
    }
    /// `-self`.
    pub fn neg(&self) -> Tensor {
        self.scale(-1.0)
    }
    /// `self²` element-wise.
    pub fn square(&self) -> Tensor {
        self.unary(Unary::Square)
    }
    /// `eˣ` element-wise.
    pub fn exp(&self) -> Tensor {
        self.unary(Unary::Exp)
    }
    /// Natural logarithm element-wise.
    pub fn log(&self) -> Tensor {
        self.unary(Unary::Log)
    }
    /// `x^e` element-wise.
    pub fn powf(&self, e: f32) -> Tensor {
        self.unary(Unary::Powf(e))
    }
    /// `|self|` element-wise (gradient 0 at 0).
    pub fn abs(&self) -> Tensor {
        self.unary(Unary::Abs)
    }
    /// Square root element-wise.
    pub fn sqrt(&self) -> Tensor {
        self.unary(Unary::Sqrt)
    }
    /// `log(cosh(x))`, computed as `x + softplus(-2x) - log 2` so it never overflows.
    pub fn log_cosh(&self) -> Tensor {
        self.unary(Unary::LogCosh)
    }
    /// Limits values to `[low, high]`; the gradient is zero where clipped.
    pub fn clip(&self, low: f32, high: f32) -> Tensor {
        self.unary(Unary::Clip(low, high))
    }
}
