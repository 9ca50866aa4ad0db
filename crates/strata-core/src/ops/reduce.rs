//! Sum, mean and maximum, over everything or along one axis.

use crate::backend::Reduce;
use crate::error::{fmt_shape, Error, Result};
use crate::tensor::Tensor;

/// Resolves a possibly negative axis (`-1` = last) against `rank`.
pub fn resolve_axis(op: &str, axis: isize, shape: &[usize]) -> Result<usize> {
    let rank = shape.len() as isize;
    let a = if axis < 0 { axis + rank } else { axis };
    if a < 0 || a >= rank {
        return Err(Error::shape(op, format!("axis {axis} is out of range for shape {}", fmt_shape(shape))));
    }
    Ok(a as usize)
}

impl Tensor {
    /// Sum of all elements, as a 0-d tensor.
    pub fn sum(&self) -> Tensor {
        self.backend().sum_all("sum", self, 1.0)
    }

    /// Mean of all elements, as a 0-d tensor (NaN for an empty tensor).
    pub fn mean(&self) -> Tensor {
        self.backend().sum_all("mean", self, 1.0 / self.numel() as f32)
    }

    /// `Σ x²` over all elements, accumulated in `f64` in a fixed order
    /// (norms for gradient clipping).
    pub fn sum_of_squares(&self) -> f64 {
        self.backend().sum_of_squares(self)
    }

    /// Whether every element is finite.
    pub fn all_finite(&self) -> bool {
        self.backend().all_finite(self)
    }

    /// Sum along `axis` (negative counts from the end); `keepdims` keeps it as length 1.
    pub fn sum_axis(&self, axis: isize, keepdims: bool) -> Result<Tensor> {
        self.reduce_axis("sum_axis", axis, Reduce::Sum, keepdims)
    }

    /// Mean along `axis` (negative counts from the end); `keepdims` keeps it as length 1.
    pub fn mean_axis(&self, axis: isize, keepdims: bool) -> Result<Tensor> {
        self.reduce_axis("mean_axis", axis, Reduce::Mean, keepdims)
    }

    /// Maximum along `axis`; the gradient goes to the first maximal element.
    pub fn max_axis(&self, axis: isize, keepdims: bool) -> Result<Tensor> {
        self.reduce_axis("max_axis", axis, Reduce::Max, keepdims)
    }

    /// The position of the largest element along `axis` (the first of
    /// equals), as an `i64` tensor without that axis (Keras's `argmax`).
    pub fn argmax(&self, axis: isize) -> Result<Tensor> {
        let axis = resolve_axis("argmax", axis, self.shape())?;
        if self.shape()[axis] == 0 {
            return Err(Error::shape("argmax", format!("axis {axis} of {} is empty: there is no largest element", fmt_shape(self.shape()))));
        }
        Ok(self.backend().argmax(self, axis))
    }

    fn reduce_axis(&self, name: &str, axis: isize, reduce: Reduce, keepdims: bool) -> Result<Tensor> {
        let axis = resolve_axis(name, axis, self.shape())?;
        Ok(self.backend().reduce_axis(self, axis, reduce, keepdims))
    }
}
