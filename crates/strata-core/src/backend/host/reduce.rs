//! Sum, mean and maximum, over everything or along one axis.

use crate::autodiff::GradFn;
use crate::backend::Reduce;
use crate::kernels::elementwise::sum;
use crate::tensor::Tensor;

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

/// The sum of all elements times `scale`, as a 0-d tensor.
pub(crate) fn sum_all(name: &'static str, x: &Tensor, scale: f32) -> Tensor {
    let total = (sum(&x.data()) * scale as f64) as f32;
    let n = x.numel();
    let backward = move |_: &[Tensor], _: &[f32], g: &[f32]| {
        let mut gx = crate::buffer::take(n);
        gx.fill(g[0] * scale);
        vec![Some(gx)]
    };
    Tensor::from_op(vec![total], vec![], GradFn::host(name, vec![x.clone()], backward))
}

/// `Σ x²` in f64, in a fixed order.
pub(crate) fn sum_of_squares(x: &Tensor) -> f64 {
    x.data().iter().map(|&v| v as f64 * v as f64).sum()
}

/// `reduce` along `axis`.
pub(crate) fn reduce_axis(x: &Tensor, axis: usize, reduce: Reduce, keepdims: bool) -> Tensor {
    match reduce {
        Reduce::Sum => sum_axis(x, "sum_axis", axis, keepdims, false),
        Reduce::Mean => sum_axis(x, "mean_axis", axis, keepdims, true),
        Reduce::Max => max_axis(x, axis, keepdims),
    }
}

/// The maximum along `axis` and where it is (the first of equals).
fn max_and_arg(x: &Tensor, axis: usize) -> (Vec<f32>, Vec<usize>) {
    let (outer, len, inner) = split_at_axis(x.shape(), axis);
    let x = x.data();
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
    (out, arg)
}

/// The index of the maximum along `axis`, as `i64`.
pub(crate) fn argmax(x: &Tensor, axis: usize) -> Tensor {
    let (_, arg) = max_and_arg(x, axis);
    let shape = reduced_shape(x.shape(), axis, false);
    Tensor::from_i64(arg.into_iter().map(|a| a as i64).collect(), &shape).expect("one index per reduced element")
}

fn max_axis(x: &Tensor, axis: usize, keepdims: bool) -> Tensor {
    let (outer, len, inner) = split_at_axis(x.shape(), axis);
    let (out, arg) = max_and_arg(x, axis);
    let shape = reduced_shape(x.shape(), axis, keepdims);
    let backward = move |_: &[Tensor], _: &[f32], g: &[f32]| {
        let mut gx = crate::buffer::zeros(outer * len * inner);
        for o in 0..outer {
            for i in 0..inner {
                gx[(o * len + arg[o * inner + i]) * inner + i] = g[o * inner + i];
            }
        }
        vec![Some(gx)]
    };
    Tensor::from_op(out, shape, GradFn::host("max_axis", vec![x.clone()], backward))
}

fn sum_axis(x: &Tensor, name: &'static str, axis: usize, keepdims: bool, mean: bool) -> Tensor {
    let (outer, len, inner) = split_at_axis(x.shape(), axis);
    let scale = if mean { 1.0 / len as f32 } else { 1.0 };
    let shape = reduced_shape(x.shape(), axis, keepdims);
    let input = x.clone();
    let x = x.data();
    let mut out = crate::buffer::zeros(outer * inner);
    for o in 0..outer {
        let dst = &mut out[o * inner..(o + 1) * inner];
        for a in 0..len {
            let src = &x[(o * len + a) * inner..(o * len + a + 1) * inner];
            dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
        }
        dst.iter_mut().for_each(|d| *d *= scale);
    }
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
    Tensor::from_op(out, shape, GradFn::host(name, vec![input], backward))
}
