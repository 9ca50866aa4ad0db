//! Slicing and joining along an axis: narrow, gather, scatter-add,
//! concatenate and split. Each works on the (outer, axis, inner)
//! split of the shape, so a slice is a run of contiguous copies, and each
//! backward pass touches only what its forward pass moved (split is one node
//! with several outputs, so its backward costs one pass over the input).

use crate::autodiff::{GradFn, MultiOp};
use crate::buffer;
use crate::tensor::Tensor;

use super::reduce::split_at_axis;

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

/// Elements `start..start + len` along `axis`.
pub(crate) fn narrow(x: &Tensor, a: usize, start: usize, len: usize) -> Tensor {
    let (outer, full, inner) = split_at_axis(x.shape(), a);
    let mut out = buffer::take(outer * len * inner);
    copy_blocks(&x.data(), full, start, &mut out, len, 0, len, (outer, inner));
    let n = x.numel();
    let backward = move |_: &[Tensor], _: &[f32], g: &[f32]| {
        let mut gx = buffer::zeros(n);
        copy_blocks(g, len, 0, &mut gx, full, start, len, (outer, inner));
        vec![Some(gx)]
    };
    Tensor::from_op(out, with_len(x.shape(), a, len), GradFn::host("narrow", vec![x.clone()], backward))
}

/// Positions `indices` along `axis`, in that order, repeats allowed; the
/// gradient adds back into each position.
pub(crate) fn gather(x: &Tensor, a: usize, indices: &[usize]) -> Tensor {
    let (outer, full, inner) = split_at_axis(x.shape(), a);
    let k = indices.len();
    let mut out = buffer::take(outer * k * inner);
    {
        let x = x.data();
        for (j, &i) in indices.iter().enumerate() {
            copy_blocks(&x, full, i, &mut out, k, j, 1, (outer, inner));
        }
    }
    let indices = indices.to_vec();
    let n = x.numel();
    let backward = move |_: &[Tensor], _: &[f32], g: &[f32]| {
        let mut gx = buffer::zeros(n);
        scatter_add_blocks(g, &indices, &mut gx, full, (outer, inner));
        vec![Some(gx)]
    };
    Tensor::from_op(out, with_len(x.shape(), a, k), GradFn::host("gather", vec![x.clone()], backward))
}

/// `x` with `src`'s slices added at positions `indices` along `axis`.
pub(crate) fn scatter_add(x: &Tensor, a: usize, indices: &[usize], src: &Tensor) -> Tensor {
    let (outer, full, inner) = split_at_axis(x.shape(), a);
    let mut out = buffer::copy_of(&x.data());
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
    Tensor::from_op(out, x.shape().to_vec(), GradFn::host("scatter_add", vec![x.clone(), src.clone()], backward))
}

/// `tensors` (equal but for `axis`) joined along `axis`.
pub(crate) fn concat(tensors: &[Tensor], a: usize) -> Tensor {
    let first = &tensors[0];
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
    Tensor::from_op(out, with_len(first.shape(), a, total), GradFn::host("concat", tensors.to_vec(), backward))
}

/// `x` cut along `axis` into pieces of `sizes` (adding up to its length).
/// One op with several outputs: the backward pass writes each piece's
/// gradient once, zeros where a piece got none.
pub(crate) fn split(x: &Tensor, a: usize, sizes: &[usize]) -> Vec<Tensor> {
    let (outer, full, inner) = split_at_axis(x.shape(), a);
    let outputs = {
        let data = x.data();
        let mut at = 0;
        sizes
            .iter()
            .map(|&len| {
                let mut out = buffer::take(outer * len * inner);
                copy_blocks(&data, full, at, &mut out, len, 0, len, (outer, inner));
                at += len;
                (out, with_len(x.shape(), a, len))
            })
            .collect()
    };
    let (pieces, sizes) = (sizes.len(), sizes.to_vec());
    let n = x.numel();
    let backward = move |inputs: &[Tensor], grads: &[Option<Tensor>]| {
        let mut gx = buffer::take(n);
        let mut at = 0;
        for (g, &len) in grads.iter().zip(&sizes) {
            match g {
                Some(g) => copy_blocks(&g.data(), len, 0, &mut gx, full, at, len, (outer, inner)),
                None => (0..outer).for_each(|o| gx[(o * full + at) * inner..(o * full + at + len) * inner].fill(0.0)),
            }
            at += len;
        }
        vec![Some(Tensor::constant(gx, inputs[0].shape().to_vec()))]
    };
    Tensor::from_multi_op(outputs, MultiOp::new("split", vec![x.clone()], pieces, Box::new(backward)))
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
