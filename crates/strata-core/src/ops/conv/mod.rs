//! 2-D convolution of NHWC images with a Keras-layout kernel `(kh, kw, in, out)`,
//! bias and (optionally) relu fused into the output pass.
//!
//! Two implementations compute the same op: [`direct`] convolves straight
//! from the images on AVX-512 register tiles (the fast path, chosen at run
//! time where the CPU has AVX-512), and [`im2col`] lays the receptive fields
//! out as a matrix for the `gemm` crate (every other CPU).

mod direct;
mod im2col;
mod pooled;

pub use pooled::conv2d_relu_max_pool;

use crate::autodiff::{self, GradFn, InputGrads};
use crate::buffer;
use crate::error::{fmt_shape, Error, Result};
use crate::kernels::tile;
use crate::kernels::window::{Padding, Window};
use crate::tensor::Tensor;

/// Convolves `x` `[n, h, w, c]` with `kernel` `[kh, kw, c, f]`, adds `bias` `[f]`
/// if given, and returns `[n, oh, ow, f]`.
pub fn conv2d(x: &Tensor, kernel: &Tensor, bias: Option<&Tensor>, strides: (usize, usize), padding: Padding) -> Result<Tensor> {
    conv2d_fused(x, kernel, bias, strides, padding, false)
}

/// [`conv2d`] followed by relu when `relu`, in one pass over the output.
pub fn conv2d_fused(x: &Tensor, kernel: &Tensor, bias: Option<&Tensor>, strides: (usize, usize), padding: Padding, relu: bool) -> Result<Tensor> {
    let g = geometry(x, kernel, bias, strides, padding)?;
    let conv = Conv { g, f: kernel.shape()[3], relu, tracked: tracked(x, kernel, bias) };
    if tile::available() {
        direct::run(conv, x, kernel, bias)
    } else {
        im2col::run(conv, x, kernel, bias)
    }
}

/// One convolution's sizes and options.
#[derive(Clone, Copy)]
struct Conv {
    g: Window,
    f: usize,
    relu: bool,
    /// Whether the output joins the autodiff graph (and the backward pass needs saved values).
    tracked: bool,
}

/// The sum of partial results of `len` values, added first to last (zeros
/// when there are none: an empty batch).
fn add_in_order(parts: impl Iterator<Item = Vec<f32>>, len: usize) -> Vec<f32> {
    parts
        .reduce(|mut total, part| {
            total.iter_mut().zip(&part).for_each(|(a, b)| *a += b);
            buffer::give(part);
            total
        })
        .unwrap_or_else(|| buffer::zeros(len))
}

/// Whether the op's output joins the autodiff graph (so its backward pass needs saved values).
fn tracked(x: &Tensor, kernel: &Tensor, bias: Option<&Tensor>) -> bool {
    autodiff::is_enabled() && (x.requires_grad() || kernel.requires_grad() || bias.is_some_and(|b| b.requires_grad()))
}

/// The op's output: a plain tensor, or a graph node over `[x, kernel, bias?]` with `backward`.
fn node(
    name: &'static str,
    out: Vec<f32>,
    shape: Vec<usize>,
    x: &Tensor,
    kernel: &Tensor,
    bias: Option<&Tensor>,
    backward: impl Fn(&[Tensor], &[f32], &[f32]) -> InputGrads + Send + Sync + 'static,
) -> Tensor {
    let mut inputs = vec![x.clone(), kernel.clone()];
    inputs.extend(bias.cloned());
    Tensor::from_op(out, shape, GradFn::new(name, inputs, Box::new(backward)))
}

/// Validates the operands and returns the window geometry.
fn geometry(x: &Tensor, kernel: &Tensor, bias: Option<&Tensor>, strides: (usize, usize), padding: Padding) -> Result<Window> {
    let (xs, ks) = (x.shape(), kernel.shape());
    if xs.len() != 4 {
        return Err(Error::shape("conv2d", format!("input must be [batch, height, width, channels], got shape {}", fmt_shape(xs))));
    }
    if ks.len() != 4 || ks[2] != xs[3] {
        return Err(Error::shape(
            "conv2d",
            format!("kernel {} does not fit input {}: need [kh, kw, {}, filters]", fmt_shape(ks), fmt_shape(xs), xs[3]),
        ));
    }
    let f = ks[3];
    if xs[3] == 0 || f == 0 {
        return Err(Error::shape("conv2d", format!("needs at least one input channel and one filter, got input {} and kernel {}", fmt_shape(xs), fmt_shape(ks))));
    }
    if let Some(b) = bias {
        if b.shape() != [f] {
            return Err(Error::shape("conv2d", format!("bias must have shape ({f},), got {}", fmt_shape(b.shape()))));
        }
    }
    if strides.0 == 0 || strides.1 == 0 {
        return Err(Error::shape("conv2d", format!("strides must be positive, got {strides:?}")));
    }
    Window::new([xs[0], xs[1], xs[2], xs[3]], (ks[0], ks[1]), strides, padding).ok_or_else(|| {
        Error::shape("conv2d", format!("a {}x{} kernel does not fit input {} with '{}' padding", ks[0], ks[1], fmt_shape(xs), padding.name()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// The fallback path (im2col + GEMM) and the tile path give the same
    /// values and gradients; the finite-difference tests check whichever
    /// path the test machine runs.
    #[test]
    fn both_paths_agree() {
        if !tile::available() {
            eprintln!("skipped: this CPU has no AVX-512, so only the im2col path exists here");
            return;
        }
        let mut rng = Rng::new(17);
        let mut var = |shape: &[usize]| Tensor::variable((0..shape.iter().product()).map(|_| rng.normal()).collect(), shape).unwrap();
        for (xs, k, f, strides, padding, relu) in [
            ([3, 9, 8, 20], (3, 3), 70, (1, 1), Padding::Same, true),
            ([2, 11, 7, 3], (2, 3), 5, (2, 3), Padding::Valid, false),
            ([4, 6, 6, 33], (3, 3), 16, (2, 2), Padding::Same, true),
        ] {
            let (x, kernel, bias) = (var(&xs), var(&[k.0, k.1, xs[3], f]), var(&[f]));
            let g = geometry(&x, &kernel, Some(&bias), strides, padding).unwrap();
            let conv = Conv { g, f, relu, tracked: true };
            let direct = direct::run(conv, &x, &kernel, Some(&bias)).unwrap();
            let gemm = im2col::run(conv, &x, &kernel, Some(&bias)).unwrap();
            let weights = Tensor::new((0..direct.numel()).map(|i| (i % 7) as f32 - 3.0).collect(), direct.shape()).unwrap();
            let gd = direct.mul(&weights).unwrap().sum().backward().unwrap();
            let gg = gemm.mul(&weights).unwrap().sum().backward().unwrap();
            let pairs = [(direct.to_vec(), gemm.to_vec())].into_iter().chain([&x, &kernel, &bias].map(|t| (gd.get(t).unwrap().to_vec(), gg.get(t).unwrap().to_vec())));
            for (which, (a, b)) in pairs.enumerate() {
                for (i, (u, v)) in a.iter().zip(&b).enumerate() {
                    assert!((u - v).abs() <= 1e-4 * (1.0 + v.abs()), "{xs:?} part {which} [{i}]: {u} vs {v}");
                }
            }
        }
    }
}
