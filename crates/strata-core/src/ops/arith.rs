//! Element-wise arithmetic with NumPy/Keras broadcasting, and unary maths.

use crate::autodiff::GradFn;
use crate::buffer;
use crate::error::{fmt_shape, Error, Result};
use crate::kernels::elementwise::{map, zip3_map, zip_map};
use crate::tensor::Tensor;

/// The broadcast shape of `a` and `b`, aligned at the right.
pub(crate) fn broadcast_shape(op: &str, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
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

#[derive(Clone, Copy, PartialEq)]
enum Binary {
    Add,
    Sub,
    Mul,
    Div,
    Max,
    Min,
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

fn binary(op: Binary, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let shape = broadcast_shape(op.name(), a.shape(), b.shape())?;
    let out = with_broadcast(a, &shape, |av| with_broadcast(b, &shape, |bv| zip_map(av, bv, |x, y| op.apply(x, y))));
    let out_shape = shape.clone();
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
    Ok(Tensor::from_op(out, out_shape, GradFn::new(op.name(), vec![a.clone(), b.clone()], Box::new(backward))))
}

/// The gradient `g` where maximum or minimum chose the first input (`first`)
/// or the second, zero elsewhere.
fn chosen(op: Binary, a: &Tensor, b: &Tensor, shape: &[usize], g: &[f32], first: bool) -> Vec<f32> {
    with_broadcast(a, shape, |x| with_broadcast(b, shape, |y| zip3_map(g, x, y, |g, x, y| if op.picks_first(x, y) == first { g } else { 0.0 })))
}

/// An element-wise unary op given its value `f(x)` and its derivative
/// `df(x, y)` as a function of the input `x` and the output `y`.
pub(crate) fn unary(
    name: &'static str,
    x: &Tensor,
    f: impl Fn(f32) -> f32 + Sync,
    df: impl Fn(f32, f32) -> f32 + Send + Sync + 'static,
) -> Tensor {
    let out = map(&x.data(), f);
    let backward = move |inputs: &[Tensor], y: &[f32], g: &[f32]| {
        vec![Some(zip3_map(g, &inputs[0].data(), y, |g, x, y| g * df(x, y)))]
    };
    Tensor::from_op(out, x.shape().to_vec(), GradFn::new(name, vec![x.clone()], Box::new(backward)))
}

impl Tensor {
    /// `x` where `condition` is non-zero, else `y`, broadcasting all three;
    /// the gradient goes to the side that was chosen.
    pub fn where_(condition: &Tensor, x: &Tensor, y: &Tensor) -> Result<Tensor> {
        let shape = broadcast_shape("where", condition.shape(), &broadcast_shape("where", x.shape(), y.shape())?)?;
        let mask = with_broadcast(condition, &shape, |c| c.iter().map(|&c| c != 0.0).collect::<Vec<bool>>());
        let out = with_broadcast(x, &shape, |xv| with_broadcast(y, &shape, |yv| mask.iter().zip(xv.iter().zip(yv)).map(|(&m, (&a, &b))| if m { a } else { b }).collect()));
        let out_shape = shape.clone();
        let backward = move |inputs: &[Tensor], _: &[f32], g: &[f32]| {
            let side = |t: &Tensor, keep: bool| {
                t.requires_grad().then(|| reduce_to(g.iter().zip(&mask).map(|(&g, &m)| if m == keep { g } else { 0.0 }).collect(), &shape, t.shape()))
            };
            vec![None, side(&inputs[1], true), side(&inputs[2], false)]
        };
        Ok(Tensor::from_op(out, out_shape, GradFn::new("where", vec![condition.clone(), x.clone(), y.clone()], Box::new(backward))))
    }

    /// `self + other`, broadcasting.
    pub fn add(&self, other: &Tensor) -> Result<Tensor> {
        binary(Binary::Add, self, other)
    }
    /// `self - other`, broadcasting.
    pub fn sub(&self, other: &Tensor) -> Result<Tensor> {
        binary(Binary::Sub, self, other)
    }
    /// `self * other` element-wise, broadcasting.
    pub fn mul(&self, other: &Tensor) -> Result<Tensor> {
        binary(Binary::Mul, self, other)
    }
    /// `self / other` element-wise, broadcasting.
    pub fn div(&self, other: &Tensor) -> Result<Tensor> {
        binary(Binary::Div, self, other)
    }
    /// The larger of `self` and `other` element-wise, broadcasting; the gradient
    /// goes to the larger (to `self` on ties).
    pub fn maximum(&self, other: &Tensor) -> Result<Tensor> {
        binary(Binary::Max, self, other)
    }
    /// The smaller of `self` and `other` element-wise, broadcasting; the gradient
    /// goes to the smaller (to `self` on ties).
    pub fn minimum(&self, other: &Tensor) -> Result<Tensor> {
        binary(Binary::Min, self, other)
    }
    /// `self * s`.
    pub fn scale(&self, s: f32) -> Tensor {
        unary("scale", self, move |x| x * s, move |_, _| s)
    }
    /// `self + s`.
    pub fn add_scalar(&self, s: f32) -> Tensor {
        unary("add_scalar", self, move |x| x + s, |_, _| 1.0)
    }
    /// `-self`.
    pub fn neg(&self) -> Tensor {
        self.scale(-1.0)
    }
    /// `self²` element-wise.
    pub fn square(&self) -> Tensor {
        unary("square", self, |x| x * x, |x, _| 2.0 * x)
    }
    /// `eˣ` element-wise.
    pub fn exp(&self) -> Tensor {
        unary("exp", self, f32::exp, |_, y| y)
    }
    /// Natural logarithm element-wise.
    pub fn log(&self) -> Tensor {
        unary("log", self, f32::ln, |x, _| 1.0 / x)
    }
    /// `|self|` element-wise (gradient 0 at 0).
    /// `x^e` element-wise.
    pub fn powf(&self, e: f32) -> Tensor {
        unary("powf", self, move |x| x.powf(e), move |x, _| e * x.powf(e - 1.0))
    }
    pub fn abs(&self) -> Tensor {
        unary("abs", self, f32::abs, |x, _| if x > 0.0 { 1.0 } else if x < 0.0 { -1.0 } else { 0.0 })
    }
    /// Square root element-wise.
    pub fn sqrt(&self) -> Tensor {
        unary("sqrt", self, f32::sqrt, |_, y| 0.5 / y)
    }
    /// `log(cosh(x))`, computed as `x + softplus(-2x) - log 2` so it never overflows.
    pub fn log_cosh(&self) -> Tensor {
        let ln2 = std::f32::consts::LN_2;
        unary("log_cosh", self, move |x| x.abs() + (-2.0 * x.abs()).exp().ln_1p() - ln2, |x, _| x.tanh())
    }
    /// Limits values to `[low, high]`; the gradient is zero where clipped.
    pub fn clip(&self, low: f32, high: f32) -> Tensor {
        unary("clip", self, move |x| x.clamp(low, high), move |x, _| if x >= low && x <= high { 1.0 } else { 0.0 })
    }
}
