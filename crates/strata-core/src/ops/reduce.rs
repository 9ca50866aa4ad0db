//! Sum and mean, over everything or along one axis.

use crate::autodiff::GradFn;
use crate::error::{fmt_shape, Error, Result};
use crate::kernels::elementwise::sum;
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

/// Splits `shape` around `axis` into (outer, axis length, inner) element counts.
pub(crate) fn split_at_axis(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (shape[..axis].iter().product(), shape[axis], shape[axis + 1..].iter().product())
}

/// `shape` without `axis`, or with it as 1 when `keepdims`.
fn reduced_shape(shape: &[usize], axis: usize, keepdims: bool) -> Vec<usize> {
    let mut shape = shape.to_vec();
    if keepdims {
        shape[axis] = 1;
    } else {
        shape.remove(axis);
    }
    shape
}

impl Tensor {
    /// Sum of all elements, as a 0-d tensor.
    pub fn sum(&self) -> Tensor {
        self.sum_scaled("sum", 1.0)
    }

    /// Mean of all elements, as a 0-d tensor (NaN for an empty tensor).
    pub fn mean(&self) -> Tensor {
        self.sum_scaled("mean", 1.0 / self.numel() as f32)
    }

    fn sum_scaled(&self, name: &'static str, scale: f32) -> Tensor {
        let total = (sum(&self.data()) * scale as f64) as f32;
        let n = self.numel();
        let backward = move |_: &[Tensor], _: &[f32], g: &[f32]| {
            let mut gx = crate::buffer::take(n);
            gx.fill(g[0] * scale);
            vec![Some(gx)]
        };
        Tensor::from_op(vec![total], vec![], GradFn::new(name, vec![self.clone()], Box::new(backward)))
    }

    /// Sum along `axis` (negative counts from the end); `keepdims` keeps it as length 1.
    pub fn sum_axis(&self, axis: isize, keepdims: bool) -> Result<Tensor> {
        self.reduce_axis("sum_axis", axis, keepdims, false)
    }

    /// Mean along `axis` (negative counts from the end); `keepdims` keeps it as length 1.
    pub fn mean_axis(&self, axis: isize, keepdims: bool) -> Result<Tensor> {
        self.reduce_axis("mean_axis", axis, keepdims, true)
    }

    /// Maximum along `axis`; the gradient goes to the first maximal element.
    pub fn max_axis(&self, axis: isize, keepdims: bool) -> Result<Tensor> {
        let axis = resolve_axis("max_axis", axis, self.shape())?;
        let (outer, len, inner) = split_at_axis(self.shape(), axis);
        let x = self.data();
        let mut out = vec![f32::NEG_INFINITY; outer * inner];
        let mut arg = vec![0usize; outer * inner];
        for o in 0..outer {
            for a in 0..len {
                for i in 0..inner {
                    let v = x[(o * len + a) * inner + i];
                    if v > out[o * inner + i] || a == 0 {
                        out[o * inner + i] = v;
                        arg[o * inner + i] = a;
                    }
                }
            }
        }
        let shape = reduced_shape(self.shape(), axis, keepdims);
        let backward = move |_: &[Tensor], _: &[f32], g: &[f32]| {
            let mut gx = crate::buffer::zeros(outer * len * inner);
            for o in 0..outer {
                for i in 0..inner {
                    gx[(o * len + arg[o * inner + i]) * inner + i] = g[o * inner + i];
                }
            }
            vec![Some(gx)]
        };
        Ok(Tensor::from_op(out, shape, GradFn::new("max_axis", vec![self.clone()], Box::new(backward))))
    }

    fn reduce_axis(&self, name: &'static str, axis: isize, keepdims: bool, mean: bool) -> Result<Tensor> {
        let axis = resolve_axis(name, axis, self.shape())?;
        let (outer, len, inner) = split_at_axis(self.shape(), axis);
        let scale = if mean { 1.0 / len as f32 } else { 1.0 };
        let x = self.data();
        let mut out = crate::buffer::zeros(outer * inner);
        for o in 0..outer {
            let dst = &mut out[o * inner..(o + 1) * inner];
            for a in 0..len {
                let src = &x[(o * len + a) * inner..(o * len + a + 1) * inner];
                dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
            }
            dst.iter_mut().for_each(|d| *d *= scale);
        }
        let shape = reduced_shape(self.shape(), axis, keepdims);
        let backward = move |_: &[Tensor], _: &[f32], g: &[f32]| {
            let mut gx = crate::buffer::take(outer * len * inner);
            for o in 0..outer {
                for a in 0..len {
                    let dst = &mut gx[(o * len + a) * inner..(o * len + a + 1) * inner];
                    dst.iter_mut().zip(&g[o * inner..(o + 1) * inner]).for_each(|(d, g)| *d = g * scale);
                }
            }
            vec![Some(gx)]
        };
        Ok(Tensor::from_op(out, shape, GradFn::new(name, vec![self.clone()], Box::new(backward))))
    }
}
