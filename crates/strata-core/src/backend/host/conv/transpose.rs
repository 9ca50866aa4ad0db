//! Transposed convolution (Keras's `Conv2DTranspose`): the input gradient of
//! the convolution `g` that maps the output's shape back to the input's. So
//! its output is `col2im(x · Kᵀ)`, its input gradient is that convolution of
//! the output gradient, and its kernel gradient is the convolution's with the
//! roles of image and output gradient swapped.
//!
//! `g` describes that convolution: `g.h x g.w x g.c` is the transposed
//! convolution's output (`c` = its filters), `g.oh x g.ow` its input, and the
//! kernel is Keras's `(kh, kw, filters, in)`, which is `g`'s own layout.

use rayon::prelude::*;

use crate::buffer;
use crate::kernels::conv::im2col;
use crate::kernels::matmul::Gemm;
use crate::kernels::window::Window;
use crate::tensor::Tensor;

use super::super::linear::with_bias_grad;
use super::add_in_order;
use super::im2col::{input_grad, KERNEL_GRAD_BLOCKS};

/// `x` `[n, g.oh, g.ow, in]` transposed-convolved with `kernel` `(kh, kw, f, in)`,
/// plus `bias` `[f]`: `[n, g.h, g.w, f]`.
pub(crate) fn run(g: Window, x: &Tensor, kernel: &Tensor, bias: Option<&Tensor>) -> Tensor {
    let (f, c) = (g.c, kernel.shape()[3]);
    let tracked = super::tracked(x, kernel, bias);
    let mut out = input_grad(&g, c, &kernel.data(), &x.data());
    if let Some(b) = bias {
        let b = b.data();
        out.par_chunks_mut(f * 64).for_each(|rows| rows.chunks_exact_mut(f).for_each(|r| r.iter_mut().zip(b.iter()).for_each(|(v, b)| *v += b)));
    }
    let shape = vec![g.n, g.h, g.w, f];
    if !tracked {
        return Tensor::constant(out, shape);
    }
    let backward = move |inputs: &[Tensor], _y: &[f32], dy: &[f32]| {
        let (x, kernel) = (&inputs[0], &inputs[1]);
        let (p, k) = (g.out_pixels(), g.kh * g.kw * g.c);
        // Block by block of images: the im2col rows of the output gradient, then
        // dX = rows · K (the convolution) and this block's share of dK = rowsᵀ · X.
        let block = g.n.div_ceil(KERNEL_GRAD_BLOCKS).max(1);
        let (kd, xd) = (kernel.data(), x.data());
        let (want_dx, want_dk) = (x.requires_grad(), kernel.requires_grad());
        let run_block = |b: usize, dx: &mut [f32]| -> Option<Vec<f32>> {
            let images = block.min(g.n - b * block);
            let rows = images * p;
            let mut cols = buffer::take(rows * k);
            im2col(&dy[b * block * g.image_len()..(b * block + images) * g.image_len()], &Window { n: images, ..g }, &mut cols);
            if want_dx {
                Gemm { m: rows, k, n: c, trans_a: false, trans_b: false }.run_serial(&cols, &kd, dx, false);
            }
            let dk = want_dk.then(|| {
                let mut part = buffer::take(k * c);
                let start = b * block * p * c;
                Gemm { m: k, k: rows, n: c, trans_a: true, trans_b: false }.run_serial(&cols, &xd[start..start + rows * c], &mut part, false);
                part
            });
            buffer::give(cols);
            dk
        };
        let mut dx = buffer::take(if want_dx { g.n * p * c } else { 0 });
        let parts: Vec<Option<Vec<f32>>> = match want_dx {
            true => dx.par_chunks_mut(block * p * c).enumerate().map(|(b, dx)| run_block(b, dx)).collect(),
            false => (0..g.n.div_ceil(block)).into_par_iter().map(|b| run_block(b, &mut [])).collect(),
        };
        // Partial kernel gradients added in block order: the same sum on any number of threads.
        let dk = want_dk.then(|| add_in_order(parts.into_iter().flatten(), k * c));
        with_bias_grad(vec![want_dx.then_some(dx), dk], inputs, dy, None, f)
    };
    super::node("conv2d_transpose", out, shape, x, kernel, bias, backward)
}
