//! Slicing and joining along an axis: narrow, select, gather (by `usize`
//! positions or by an integer tensor), scatter-add, concatenate, stack and
//! split. Each checks its ranges here and leaves the copying to the backend.

use std::sync::Arc;

use crate::error::{fmt_shape, Error, Result};
use crate::tensor::{Origin, Tensor};

use super::{resolve_axis, same_device};

/// `shape` with the length of `axis` replaced.
fn with_len(shape: &[usize], axis: usize, len: usize) -> Vec<usize> {
    let mut s = shape.to_vec();
    s[axis] = len;
    s
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
        let full = self.shape()[a];
        if start.checked_add(len).is_none_or(|end| end > full) {
            return Err(Error::shape("narrow", format!("{start}..{} is out of range for axis {a} of {} (length {full})", start.saturating_add(len), fmt_shape(self.shape()))));
        }
        Ok(self.backend().narrow(self, a, start, len))
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
        check_indices("gather", indices, self.shape()[a], self.shape(), a)?;
        Ok(self.backend().gather(self, a, indices))
    }

    /// NumPy's `take` with an integer tensor of positions (token ids): the
    /// result's shape is `shape[..axis] + indices.shape + shape[axis + 1..]`,
    /// so `embeddings.take(&ids, 0)` with ids `[batch, seq]` gives
    /// `[batch, seq, dim]`. Negative or non-whole positions are errors, as
    /// positions past the axis.
    pub fn take(&self, indices: &Tensor, axis: isize) -> Result<Tensor> {
        let a = resolve_axis("take", axis, self.shape())?;
        let positions = indices.to_indices().map_err(|e| Error::argument("take", e.to_string()))?;
        let gathered = self.gather(a as isize, &positions)?;
        let mut shape = self.shape()[..a].to_vec();
        shape.extend_from_slice(indices.shape());
        shape.extend_from_slice(&self.shape()[a + 1..]);
        // Rows of a table (an embedding lookup) remember where they came from.
        let origin = (a == 0 && self.rank() == 2).then(|| Origin::Rows { table: self.clone(), ids: Arc::new(positions), version: self.version() });
        Ok(gathered.view_from(shape, origin))
    }

    /// `self` with `src`'s slices added at positions `indices` along `axis`
    /// (`src` has `indices.len()` there; a repeated index adds twice).
    pub fn scatter_add(&self, axis: isize, indices: &[usize], src: &Tensor) -> Result<Tensor> {
        same_device("scatter_add", &[self, src])?;
        let a = resolve_axis("scatter_add", axis, self.shape())?;
        check_indices("scatter_add", indices, self.shape()[a], self.shape(), a)?;
        if src.shape() != with_len(self.shape(), a, indices.len()) {
            return Err(Error::shape(
                "scatter_add",
                format!("src {} must be {} with {} along axis {a}", fmt_shape(src.shape()), fmt_shape(self.shape()), indices.len()),
            ));
        }
        Ok(self.backend().scatter_add(self, a, indices, src))
    }

    /// Joins `tensors` along `axis`; every other axis must agree.
    pub fn concat(tensors: &[Tensor], axis: isize) -> Result<Tensor> {
        let first = tensors.first().ok_or_else(|| Error::shape("concat", "needs at least one tensor"))?;
        same_device("concat", &tensors.iter().collect::<Vec<_>>())?;
        let a = resolve_axis("concat", axis, first.shape())?;
        for t in tensors {
            let same = t.rank() == first.rank() && t.shape().iter().zip(first.shape()).enumerate().all(|(i, (x, y))| i == a || x == y);
            if !same {
                return Err(Error::shape("concat", format!("cannot join {} and {} along axis {a}: the other axes differ", fmt_shape(first.shape()), fmt_shape(t.shape()))));
            }
        }
        Ok(first.backend().concat(tensors, a))
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
        let full = self.shape()[a];
        if sizes.iter().sum::<usize>() != full {
            return Err(Error::shape("split", format!("sizes {sizes:?} do not add up to axis {a} of {} (length {full})", fmt_shape(self.shape()))));
        }
        Ok(self.backend().split(self, a, sizes))
    }
}
