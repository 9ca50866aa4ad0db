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

use crate::buffer::{self, Recycled};
use crate::kernels::conv::im2col;
use crate::kernels::matmul::Gemm;
use crate::kernels::window::Window;
use crate::tensor::Tensor;

use super::super::linear::with_bias_grad;
use super::im2col::{images_per_chunk, input_grad, sum_partials, KERNEL_GRAD_BLOCKS};

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
        let m = g.n * p;
        let cols = Recycled({
            let mut cols = buffer::take(m * k);
            im2col(dy, &g, &mut cols);
            cols
        });
        let dx = x.requires_grad().then(|| {
            // dX = im2col(dY) · K: the convolution of the output gradient.
            let mut dx = buffer::take(m * c);
            let per_chunk = images_per_chunk(&g, k) * p;
            let kd = kernel.data();
            dx.par_chunks_mut(per_chunk * c).zip(cols.par_chunks(per_chunk * k)).for_each(|(rows, cols)| {
                Gemm { m: rows.len() / c, k, n: c, trans_a: false, trans_b: false }.run_serial(cols, &kd, rows, false);
            });
            dx
        });
        let dk = kernel.requires_grad().then(|| {
            // dK = im2col(dY)ᵀ · X, summed over fixed row blocks in a fixed order.
            let xd = x.data();
            let block = m.div_ceil(KERNEL_GRAD_BLOCKS).max(1);
            sum_partials(m.div_ceil(block), k * c, |b, part| {
                let rows = b * block..((b + 1) * block).min(m);
                Gemm { m: k, k: rows.len(), n: c, trans_a: true, trans_b: false }.run_serial(&cols[rows.start * k..rows.end * k], &xd[rows.start * c..rows.end * c], part, false);
            })
        });
        with_bias_grad(vec![dx, dk], inputs, dy, None, f)
    };
    super::node("conv2d_transpose", out, shape, x, kernel, bias, backward)
}
