//! Element-wise arithmetic of two tensors with NumPy/Keras broadcasting.

use crate::backend::Binary;
use crate::error::{fmt_shape, Error, Result};
use crate::tensor::Tensor;

use super::same_device;

/// The broadcast shape of `a` and `b`, aligned at the right.
fn broadcast_shape(op: &str, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let da = if i + a.len() >= rank { a[i + a.len() - rank] } else { 1 };
        let db = if i + b.len() >= rank { b[i + b.len() - rank] } else { 1 };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => {
                return Err(Error::shape(op, format!("cannot broadcast shapes {} and {}", fmt_shape(a), fmt_shape(b))));
            }
        };
    }
    Ok(out)
}

fn binary(op: Binary, name: &str, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    same_device(name, &[a, b])?;
    let shape = broadcast_shape(name, a.shape(), b.shape())?;
    Ok(a.backend().binary(op, a, b, &shape))
}

impl Tensor {
    /// `x` where `condition` is non-zero, else `y`, broadcasting all three;
    /// the gradient goes to the side that was chosen.
    pub fn where_(condition: &Tensor, x: &Tensor, y: &Tensor) -> Result<Tensor> {
        same_device("where", &[condition, x, y])?;
        let shape = broadcast_shape("where", condition.shape(), &broadcast_shape("where", x.shape(), y.shape())?)?;
        Ok(x.backend().select_where(condition, x, y, &shape))
    }
    /// `self + other`, broadcasting.
    pub fn add(&self, other: &Tensor) -> Result<Tensor> {
        binary(Binary::Add, "add", self, other)
    }
    /// `self - other`, broadcasting.
    pub fn sub(&self, other: &Tensor) -> Result<Tensor> {
        binary(Binary::Sub, "sub", self, other)
    }
    /// `self * other` element-wise, broadcasting.
    pub fn mul(&self, other: &Tensor) -> Result<Tensor> {
        binary(Binary::Mul, "mul", self, other)
    }
    /// `self / other` element-wise, broadcasting.
    pub fn div(&self, other: &Tensor) -> Result<Tensor> {
        binary(Binary::Div, "div", self, other)
    }
    /// The larger of `self` and `other` element-wise, broadcasting; the gradient
    /// goes to the larger (to `self` on ties).
    pub fn maximum(&self, other: &Tensor) -> Result<Tensor> {
        binary(Binary::Max, "maximum", self, other)
    }
    /// The smaller of `self` and `other` element-wise, broadcasting; the gradient
    /// goes to the smaller (to `self` on ties).
    pub fn minimum(&self, other: &Tensor) -> Result<Tensor> {
        binary(Binary::Min, "minimum", self, other)
    }
}
