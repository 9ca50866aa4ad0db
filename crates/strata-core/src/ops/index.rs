//! Slicing and joining along an axis: narrow, select, gather, scatter-add,
//! concatenate, stack and split. Each works on the (outer, axis, inner)
//! split of the shape, so a slice is a run of contiguous copies, and each
//! backward pass touches only what its forward pass moved (split is one node
//! with several outputs, so its backward costs one pass over the input).

use crate::autodiff::{GradFn, MultiOp};
use crate::buffer;
use crate::error::{fmt_shape, Error, Result};
use crate::tensor::Tensor;

use super::reduce::{resolve_axis, split_at_axis};

/// `shape` with the length of `axis` replaced.
fn with_len(shape: &[usize], axis: usize, len: usize) -> Vec<usize> {
    let mut s = shape.to_vec();
    s[axis] = len;
    s
}

/// Copies, for every outer index, `count` inner-blocks from `src` (read at
/// axis position `from`, axis length `src_len`) to `dst` (at `to`, `dst_len`).
#[allow(clippy::too_many_arguments)]
fn copy_blocks(src: &[f32], src_len: usize, from: usize, dst: &mut [f32], dst_len: usize, to: usize, count: usize, (outer, inner): (usize, usize)) {
    let n = count * inner;
    for o in 0..outer {
        let s = (o * src_len + from) * inner;
        let d = (o * dst_len + to) * inner;
        dst[d..d + n].copy_from_slice(&src[s..s + n]);
    }
}

/// Checks that `indices` are all below the length of `axis`.
fn check_indices(op: &str, indices: &[usize], len: usize, shape: &[usize], axis: usize) -> Result<()> {
    match indices.iter().find(|&&i| i >= len) {
        Some(i) => Err(Error::shape(op, format!("index {i} is out of range for axis {axis} of {} (length {len})", fmt_shape(shape)))),
        None => Ok(()),
    }
}

impl Tensor {
    /// Elements `start..start + len` along `axis` (PyTorch's `narrow`, a slice `x[:, start:start+len]`).
    pub fn narrow(&self, axis: isize, start: usize, len: usize) -> Result<Tensor> {
        let a = resolve_axis("narrow", axis, self.shape())?;
        let (outer, full, inner) = split_at_axis(self.shape(), a);
        if start.checked_add(len).is_none_or(|end| end > full) {
            return Err(Error::shape("narrow", format!("{start}..{} is out of range for axis {a} of {} (length {full})", start.saturating_add(len), fmt_shape(self.shape()))));
        }
        let mut out = buffer::take(outer * len * inner);
        copy_blocks(&self.data(), full, start, &mut out, len, 0, len, (outer, inner));
        let n = self.numel();
        let backward = move |_: &[Tensor], _: &[f32], g: &[f32]| {
            let mut gx = buffer::zeros(n);
            copy_blocks(g, len, 0, &mut gx, full, start, len, (outer, inner));
            vec![Some(gx)]
        };
        Ok(Tensor::from_op(out, with_len(self.shape(), a, len), GradFn::new("narrow", vec![self.clone()], Box::new(backward))))
    }

    /// Position `index` along `axis`, with that axis removed (`x[:, index]`).
    pub fn select(&self, axis: isize, index: usize) -> Result<Tensor> {
        let a = resolve_axis("select", axis, self.shape())?;
        let mut shape = self.shape().to_vec();
        shape.remove(a);
        Ok(self.narrow(a as isize, index, 1)?.view(shape))
    }

    /// The same values with a length-1 axis inserted at `axis` (`0..=rank`; negative counts from the end).
    pub fn unsqueeze(&self, axis: isize) -> Result<Tensor> {
        let rank = self.rank() as isize;
        let a = if axis < 0 { axis + rank + 1 } else { axis };
        if !(0..=rank).contains(&a) {
            return Err(Error::shape("unsqueeze", format!("axis {axis} is out of range for inserting into {}", fmt_shape(self.shape()))));
        }
        let mut shape = self.shape().to_vec();
        shape.insert(a as usize, 1);
        Ok(self.view(shape))
    }

    /// Positions `indices` along `axis`, in that order, repeats allowed
    /// (`take` / an embedding lookup); the gradient adds back into each position.
    pub fn gather(&self, axis: isize, indices: &[usize]) -> Result<Tensor> {
        let a = resolve_axis("gather", axis, self.shape())?;
        let (outer, full, inner) = split_at_axis(self.shape(), a);
        check_indices("gather", indices, full, self.shape(), a)?;
        let k = indices.len();
        let mut out = buffer::take(outer * k * inner);
        {
            let x = self.data();
            for (j, &i) in indices.iter().enumerate() {
                copy_blocks(&x, full, i, &mut out, k, j, 1, (outer, inner));
            }
        }
        let indices = indices.to_vec();
        let n = self.numel();
        let backward = move |_: &[Tensor], _: &[f32], g: &[f32]| {
            let mut gx = buffer::zeros(n);
            scatter_add_blocks(g, &indices, &mut gx, full, (outer, inner));
            vec![Some(gx)]
        };
        Ok(Tensor::from_op(out, with_len(self.shape(), a, k), GradFn::new("gather", vec![self.clone()], Box::new(backward))))
    }

    /// `self` with `src`'s slices added at positions `indices` along `axis`
    /// (`src` has `indices.len()` there; a repeated index adds twice).
    pub fn scatter_add(&self, axis: isize, indices: &[usize], src: &Tensor) -> Result<Tensor> {
        let a = resolve_axis("scatter_add", axis, self.shape())?;
        let (outer, full, inner) = split_at_axis(self.shape(), a);
        check_indices("scatter_add", indices, full, self.shape(), a)?;
        if src.shape() != with_len(self.shape(), a, indices.len()) {
            return Err(Error::shape(
                "scatter_add",
                format!("src {} must be {} with {} along axis {a}", fmt_shape(src.shape()), fmt_shape(self.shape()), indices.len()),
            ));
        }
        let mut out = buffer::take(self.numel());
        out.copy_from_slice(&self.data());
        scatter_add_blocks(&src.data(), indices, &mut out, full, (outer, inner));
        let indices = indices.to_vec();
        let backward = move |inputs: &[Tensor], _: &[f32], g: &[f32]| {
            let gs = inputs[1].requires_grad().then(|| {
                let k = indices.len();
                let mut gs = buffer::take(outer * k * inner);
                for (j, &i) in indices.iter().enumerate() {
                    copy_blocks(g, full, i, &mut gs, k, j, 1, (outer, inner));
                }
                gs
            });
            vec![inputs[0].requires_grad().then(|| g.to_vec()), gs]
        };
        Ok(Tensor::from_op(out, self.shape().to_vec(), GradFn::new("scatter_add", vec![self.clone(), src.clone()], Box::new(backward))))
    }

    /// Joins `tensors` along `axis`; every other axis must agree.
    pub fn concat(tensors: &[Tensor], axis: isize) -> Result<Tensor> {
        let first = tensors.first().ok_or_else(|| Error::shape("concat", "needs at least one tensor"))?;
        let a = resolve_axis("concat", axis, first.shape())?;
        for t in tensors {
            let same = t.rank() == first.rank() && t.shape().iter().zip(first.shape()).enumerate().all(|(i, (x, y))| i == a || x == y);
            if !same {
                return Err(Error::shape("concat", format!("cannot join {} and {} along axis {a}: the other axes differ", fmt_shape(first.shape()), fmt_shape(t.shape()))));
            }
        }
        let lens: Vec<usize> = tensors.iter().map(|t| t.shape()[a]).collect();
        let total: usize = lens.iter().sum();
        let (outer, _, inner) = split_at_axis(first.shape(), a);
        let mut out = buffer::take(outer * total * inner);
        let mut at = 0;
        for (t, &len) in tensors.iter().zip(&lens) {
            copy_blocks(&t.data(), len, 0, &mut out, total, at, len, (outer, inner));
            at += len;
        }
        let backward = move |inputs: &[Tensor], _: &[f32], g: &[f32]| {
            let mut at = 0;
            lens.iter()
                .zip(inputs)
                .map(|(&len, t)| {
                    let grad = t.requires_grad().then(|| {
                        let mut gt = buffer::take(outer * len * inner);
                        copy_blocks(g, total, at, &mut gt, len, 0, len, (outer, inner));
                        gt
                    });
                    at += len;
                    grad
                })
                .collect()
        };
        Ok(Tensor::from_op(out, with_len(first.shape(), a, total), GradFn::new("concat", tensors.to_vec(), Box::new(backward))))
    }

    /// Stacks same-shaped `tensors` along a new axis `axis`.
    pub fn stack(tensors: &[Tensor], axis: isize) -> Result<Tensor> {
        let first = tensors.first().ok_or_else(|| Error::shape("stack", "needs at least one tensor"))?;
        if let Some(t) = tensors.iter().find(|t| t.shape() != first.shape()) {
            return Err(Error::shape("stack", format!("all tensors must have one shape, got {} and {}", fmt_shape(first.shape()), fmt_shape(t.shape()))));
        }
        let expanded = tensors.iter().map(|t| t.unsqueeze(axis)).collect::<Result<Vec<_>>>()?;
        Tensor::concat(&expanded, axis)
    }

    /// Cuts `self` along `axis` into pieces of `sizes` (which must add up to
    /// the axis length). One op with several outputs: the backward pass
    /// writes each piece's gradient once, zeros where a piece got none.
    pub fn split(&self, axis: isize, sizes: &[usize]) -> Result<Vec<Tensor>> {
        let a = resolve_axis("split", axis, self.shape())?;
        let (outer, full, inner) = split_at_axis(self.shape(), a);
        if sizes.iter().sum::<usize>() != full {
            return Err(Error::shape("split", format!("sizes {sizes:?} do not add up to axis {a} of {} (length {full})", fmt_shape(self.shape()))));
        }
        let x = self.data();
        let mut at = 0;
        let outputs = sizes
            .iter()
            .map(|&len| {
                let mut out = buffer::take(outer * len * inner);
                copy_blocks(&x, full, at, &mut out, len, 0, len, (outer, inner));
                at += len;
                (out, with_len(self.shape(), a, len))
            })
            .collect();
        drop(x);
        let (pieces, sizes) = (sizes.len(), sizes.to_vec());
        let n = self.numel();
        let backward = move |_: &[Tensor], grads: &[Option<Vec<f32>>]| {
            let mut gx = buffer::take(n);
            let mut at = 0;
            for (g, &len) in grads.iter().zip(&sizes) {
                match g {
                    Some(g) => copy_blocks(g, len, 0, &mut gx, full, at, len, (outer, inner)),
                    None => (0..outer).for_each(|o| gx[(o * full + at) * inner..(o * full + at + len) * inner].fill(0.0)),
                }
                at += len;
            }
            vec![Some(gx)]
        };
        Ok(Tensor::from_multi_op(outputs, MultiOp::new("split", vec![self.clone()], pieces, Box::new(backward))))
    }
}

/// Adds `src`'s slice `j` into `dst` at axis position `indices[j]`.
fn scatter_add_blocks(src: &[f32], indices: &[usize], dst: &mut [f32], dst_len: usize, (outer, inner): (usize, usize)) {
    let k = indices.len();
    for o in 0..outer {
        for (j, &i) in indices.iter().enumerate() {
            let s = &src[(o * k + j) * inner..(o * k + j + 1) * inner];
            let d = &mut dst[(o * dst_len + i) * inner..(o * dst_len + i + 1) * inner];
            d.iter_mut().zip(s).for_each(|(d, s)| *d += s);
        }
    }
}
