//! Matrix products: of two 2-D tensors, batched over a leading axis, and the
//! dense layer's `x · W + b` with relu optionally fused (one product and one
//! pass over the output instead of three ops).

use crate::error::{fmt_shape, Error, Result};
use crate::tensor::Tensor;

use super::same_device;

impl Tensor {
    /// `[m, k] x [k, n] -> [m, n]`.
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        same_device("matmul", &[self, other])?;
        let (a, b) = (self.shape(), other.shape());
        if a.len() != 2 || b.len() != 2 || a[1] != b[0] {
            return Err(Error::shape("matmul", format!("cannot multiply {} by {}: need [m, k] x [k, n]", fmt_shape(a), fmt_shape(b))));
        }
        Ok(self.backend().matmul(self, other))
    }

    /// `[b, m, k] x [b, k, n] -> [b, m, n]`: one product per batch entry.
    pub fn bmm(&self, other: &Tensor) -> Result<Tensor> {
        same_device("bmm", &[self, other])?;
        let (a, b) = (self.shape(), other.shape());
        if a.len() != 3 || b.len() != 3 || a[0] != b[0] || a[2] != b[1] {
            return Err(Error::shape("bmm", format!("cannot multiply {} by {}: need [batch, m, k] x [batch, k, n]", fmt_shape(a), fmt_shape(b))));
        }
        Ok(self.backend().bmm(self, other))
    }

    /// Swaps two axes (negative counts from the end).
    pub fn transpose(&self, a: isize, b: isize) -> Result<Tensor> {
        let (a, b) = (super::resolve_axis("transpose", a, self.shape())?, super::resolve_axis("transpose", b, self.shape())?);
        let mut perm: Vec<usize> = (0..self.rank()).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }
}

/// `[m, k] · [k, n] + [n]`, then relu if `relu`.
pub fn linear(x: &Tensor, kernel: &Tensor, bias: Option<&Tensor>, relu: bool) -> Result<Tensor> {
    let mut operands = vec![x, kernel];
    operands.extend(bias);
    same_device("linear", &operands)?;
    let (xs, ks) = (x.shape(), kernel.shape());
    if xs.len() != 2 || ks.len() != 2 || xs[1] != ks[0] {
        return Err(Error::shape("linear", format!("cannot multiply {} by kernel {}: need [batch, k] x [k, units]", fmt_shape(xs), fmt_shape(ks))));
    }
    let n = ks[1];
    if let Some(b) = bias {
        if b.shape() != [n] {
            return Err(Error::shape("linear", format!("bias must have shape ({n},), got {}", fmt_shape(b.shape()))));
        }
    }
    Ok(x.backend().linear(x, kernel, bias, relu))
}
