//! 2-D convolution of NHWC images with a Keras-layout kernel `(kh, kw, in, out)`,
//! bias and (optionally) relu fused into the output pass.
//!
//! Two implementations compute the same op: [`direct`] convolves straight
//! from the images on register tiles (the [`Cpu`](crate::backend::Cpu)
//! backend's path where the CPU has AVX-512, or AVX2 and FMA), and [`im2col`] lays the
//! receptive fields out as a matrix for the `gemm` crate (the portable one).

pub(crate) mod direct;
pub(crate) mod first;
pub(crate) mod im2col;
pub(crate) mod maxima;
pub(crate) mod pooled;
pub(crate) mod thin;
pub(crate) mod transpose;

use crate::autodiff::{self, GradFn, HostGrads};
use crate::buffer;
use crate::kernels::elementwise::add_parts_in_order;
use crate::kernels::window::Window;
use crate::tensor::Tensor;

/// One convolution's sizes and options.
#[derive(Clone, Copy)]
struct Conv {
    g: Window,
    f: usize,
    relu: bool,
    /// Whether the output joins the autodiff graph (and the backward pass needs saved values).
    tracked: bool,
}

impl Conv {
    fn new(g: Window, relu: bool, x: &Tensor, kernel: &Tensor, bias: Option<&Tensor>) -> Conv {
        Conv { g, f: kernel.shape()[3], relu, tracked: tracked(x, kernel, bias) }
    }
}

/// The sum of partial results of `len` values, added first to last (zeros
/// when there are none: an empty batch).
fn add_in_order(parts: impl Iterator<Item = Vec<f32>>, len: usize) -> Vec<f32> {
    add_parts_in_order(parts.collect()).unwrap_or_else(|| buffer::zeros(len))
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
    backward: impl Fn(&[Tensor], &[f32], &[f32]) -> HostGrads + Send + Sync + 'static,
) -> Tensor {
    let mut inputs = vec![x.clone(), kernel.clone()];
    inputs.extend(bias.cloned());
    Tensor::from_op(out, shape, GradFn::host(name, inputs, backward))
}

