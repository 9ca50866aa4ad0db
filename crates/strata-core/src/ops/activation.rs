//! Activation functions as element-wise ops.

use crate::tensor::Tensor;

impl Tensor {
    /// `max(x, 0)`.
    pub fn relu(&self) -> Tensor {
        super::arith::unary("relu", self, |x| x.max(0.0), |x, _| if x > 0.0 { 1.0 } else { 0.0 })
    }
    /// `1 / (1 + e⁻ˣ)`, computed without overflow for large |x|.
    pub fn sigmoid(&self) -> Tensor {
        super::arith::unary("sigmoid", self, sigmoid, |_, y| y * (1.0 - y))
    }
    /// Hyperbolic tangent.
    pub fn tanh(&self) -> Tensor {
        super::arith::unary("tanh", self, f32::tanh, |_, y| 1.0 - y * y)
    }
}

fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}
