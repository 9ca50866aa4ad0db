//! Element-wise arithmetic with NumPy/Keras broadcasting, and unary maths.

use crate::autodiff::GradFn;
use crate::backend::{Binary, Unary};
use crate::buffer;
use crate::kernels::elementwise::{map, zip3_map, zip_map};
use crate::tensor::Tensor;

/// Strides of `shape` seen from `out` (0 along broadcast axes).
fn broadcast_strides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let mut strides = vec![0; out.len()];
    let mut stride = 1;
    for i in (0..shape.len()).rev() {
        let o = i + out.len() - shape.len();
        strides[o] = if shape[i] == 1 { 0 } else { stride };
        stride *= shape[i];
    }
    strides
}

/// Calls `f(out_index, a_index)` for every element of `out`, where `a_index`
/// is the element of the (broadcast) `a` it reads.
fn for_each_broadcast(out: &[usize], a: &[usize], mut f: impl FnMut(usize, usize)) {
    let total: usize = out.iter().product();
    if total == 0 {
        return;
    }
    let strides = broadcast_strides(a, out);
    let mut index = vec![0usize; out.len()];
    let mut offset = 0usize;
    for o in 0..total {
        f(o, offset);
        for d in (0..out.len()).rev() {
            index[d] += 1;
            offset += strides[d];
            if index[d] < out[d] {
                break;
            }
            offset -= strides[d] * out[d];
            index[d] = 0;
        }
    }
}

/// `x` (of shape `from`) broadcast to the shape `to`.
fn expand(x: &[f32], from: &[usize], to: &[usize]) -> Vec<f32> {
    let mut out = buffer::take(to.iter().product());
    for_each_broadcast(to, from, |o, i| out[o] = x[i]);
    out
}

/// Runs `f` on the values of `t` broadcast to `shape`, copying only if needed.
fn with_broadcast<R>(t: &Tensor, shape: &[usize], f: impl FnOnce(&[f32]) -> R) -> R {
    let data = t.data();
    if t.shape() == shape {
        return f(&data);
    }
    let full = expand(&data, t.shape(), shape);
    let r = f(&full);
    buffer::give(full);
    r
}

/// Sums `g` (of shape `from`) down to the shape `to` it was broadcast from.
fn reduce_to(g: Vec<f32>, from: &[usize], to: &[usize]) -> Vec<f32> {
    if from == to {
        return g;
    }
    let mut out = buffer::zeros(to.iter().product());
    for_each_broadcast(from, to, |o, i| out[i] += g[o]);
    buffer::give(g);
    out
}

impl Binary {
    fn name(self) -> &'static str {
        match self {
            Binary::Add => "add",
            Binary::Sub => "sub",
            Binary::Mul => "mul",
            Binary::Div => "div",
            Binary::Max => "maximum",
            Binary::Min => "minimum",
        }
    }
    #[inline]
    fn apply(self, x: f32, y: f32) -> f32 {
        match self {
            Binary::Add => x + y,
            Binary::Sub => x - y,
            Binary::Mul => x * y,
            Binary::Div => x / y,
            Binary::Max => if x >= y { x } else { y },
            Binary::Min => if x <= y { x } else { y },
        }
    }
    /// For maximum and minimum: whether `x` (rather than `y`) was chosen; ties go to `x`, as TensorFlow's gradient does.
    #[inline]
    fn picks_first(self, x: f32, y: f32) -> bool {
        if self == Binary::Max { x >= y } else { x <= y }
    }
}

/// `op` of `a` and `b` broadcast to `shape`.
pub(crate) fn binary(op: Binary, a: &Tensor, b: &Tensor, shape: &[usize]) -> Tensor {
    // Each op's own loop, so the arithmetic is inlined (and vectorised) in it.
    let out = with_broadcast(a, shape, |av| {
        with_broadcast(b, shape, |bv| match op {
            Binary::Add => zip_map(av, bv, |x, y| x + y),
            Binary::Sub => zip_map(av, bv, |x, y| x - y),
            Binary::Mul => zip_map(av, bv, |x, y| x * y),
            Binary::Div => zip_map(av, bv, |x, y| x / y),
            Binary::Max | Binary::Min => zip_map(av, bv, |x, y| op.apply(x, y)),
        })
    });
    let (shape, out_shape) = (shape.to_vec(), shape.to_vec());
    let backward = move |inputs: &[Tensor], _: &[f32], g: &[f32]| {
        let (a, b) = (&inputs[0], &inputs[1]);
        let ga = a.requires_grad().then(|| {
            let local = match op {
                Binary::Add | Binary::Sub => g.to_vec(),
                Binary::Mul => with_broadcast(b, &shape, |y| zip_map(g, y, |g, y| g * y)),
                Binary::Div => with_broadcast(b, &shape, |y| zip_map(g, y, |g, y| g / y)),
                Binary::Max | Binary::Min => chosen(op, a, b, &shape, g, true),
            };
            reduce_to(local, &shape, a.shape())
        });
        let gb = b.requires_grad().then(|| {
            let local = match op {
                Binary::Add => g.to_vec(),
                Binary::Sub => map(g, |g| -g),
                Binary::Mul => with_broadcast(a, &shape, |x| zip_map(g, x, |g, x| g * x)),
                Binary::Div => with_broadcast(a, &shape, |x| with_broadcast(b, &shape, |y| zip3_map(g, x, y, |g, x, y| -g * x / (y * y)))),
                Binary::Max | Binary::Min => chosen(op, a, b, &shape, g, false),
            };
            reduce_to(local, &shape, b.shape())
        });
        vec![ga, gb]
    };
    Tensor::from_op(out, out_shape, GradFn::host(op.name(), vec![a.clone(), b.clone()], backward))
}

/// The gradient `g` where maximum or minimum chose the first input (`first`)
/// or the second, zero elsewhere.
fn chosen(op: Binary, a: &Tensor, b: &Tensor, shape: &[usize], g: &[f32], first: bool) -> Vec<f32> {
    with_broadcast(a, shape, |x| with_broadcast(b, shape, |y| zip3_map(g, x, y, |g, x, y| if op.picks_first(x, y) == first { g } else { 0.0 })))
}

/// An element-wise unary op given its value `f(x)` and its derivative
/// `df(x, y)` as a function of the input `x` and the output `y`.
pub(crate) fn map_unary(
    name: &'static str,
    x: &Tensor,
    f: impl Fn(f32) -> f32 + Sync,
    df: impl Fn(f32, f32) -> f32 + Send + Sync + 'static,
) -> Tensor {
    let out = map(&x.data(), f);
    let backward = move |inputs: &[Tensor], y: &[f32], g: &[f32]| {
        // A zero upstream gradient passes zero, as TensorFlow's sqrt gradient
        // does, rather than 0 * inf = NaN where the derivative is infinite.
        // The product is computed either way and then chosen, so the loop
        // compiles to vector selects instead of a branch per element.
        vec![Some(zip3_map(g, &inputs[0].data(), y, |g, x, y| {
            let d = g * df(x, y);
            if g == 0.0 { 0.0 } else { d }
        }))]
    };
    Tensor::from_op(out, x.shape().to_vec(), GradFn::host(name, vec![x.clone()], backward))
}

/// `op` applied to every element of `x`.
pub(crate) fn unary(op: Unary, x: &Tensor) -> Tensor {
    super::activation::unary(op, x)
}

/// `total + g`, written into `total` when nothing else holds it.
pub(crate) fn accumulate(total: Tensor, g: &Tensor) -> Tensor {
    if total.is_unshared() && g.shape() == total.shape() {
        {
            let (mut t, g) = (total.data_mut(), g.data());
            t.iter_mut().zip(g.iter()).for_each(|(a, b)| *a += b);
        }
        return total;
    }
    let sum = zip_map(&total.data(), &g.data(), |a, b| a + b);
    Tensor::constant(sum, total.shape().to_vec())
}

/// `x` where `condition` is non-zero, else `y`, all broadcast to `shape`;
/// the gradient goes to the side that was chosen.
pub(crate) fn select_where(condition: &Tensor, x: &Tensor, y: &Tensor, shape: &[usize]) -> Tensor {
    let shape = shape.to_vec();
    let mask = with_broadcast(condition, &shape, |c| c.iter().map(|&c| c != 0.0).collect::<Vec<bool>>());
    let out = with_broadcast(x, &shape, |xv| with_broadcast(y, &shape, |yv| mask.iter().zip(xv.iter().zip(yv)).map(|(&m, (&a, &b))| if m { a } else { b }).collect()));
    let out_shape = shape.clone();
    let backward = move |inputs: &[Tensor], _: &[f32], g: &[f32]| {
        let side = |t: &Tensor, keep: bool| {
            t.requires_grad().then(|| reduce_to(g.iter().zip(&mask).map(|(&g, &m)| if m == keep { g } else { 0.0 }).collect(), &shape, t.shape()))
        };
        vec![None, side(&inputs[1], true), side(&inputs[2], false)]
    };
    Tensor::from_op(out, out_shape, GradFn::host("where", vec![condition.clone(), x.clone(), y.clone()], backward))
}
