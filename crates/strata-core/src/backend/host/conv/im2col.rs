//! Convolution by im2col + matrix multiply (the `gemm` crate), for CPUs
//! that run no tiles (neither AVX-512 nor AVX2 with FMA). Work is split over the batch: each work item lays out
//! the im2col rows of a few images and multiplies them on one thread while
//! they are in cache.

use rayon::prelude::*;

use crate::buffer::{self, Recycled};
use crate::kernels::conv::{col2im, im2col};
use crate::kernels::elementwise::relu_mask;
use crate::kernels::matmul::Gemm;
use crate::kernels::window::Window;
use crate::tensor::Tensor;

use super::super::linear::with_bias_grad;
use super::Conv;

/// Images per work item: enough rows for an efficient matrix product, few
/// enough that one item's im2col block stays in cache. Fixed by the shapes
/// alone (not the thread count), so results never depend on the threads.
pub(super) fn images_per_chunk(g: &Window, k: usize) -> usize {
    let cache_sized = (1 << 16) / (g.out_pixels() * k).max(1);
    // At least 8 items per batch where possible, so two to four threads share the work evenly.
    cache_sized.min(g.n.div_ceil(8)).max(1)
}

/// The convolution over window `g` (relu fused when `relu`).
pub(crate) fn run(g: Window, relu: bool, x: &Tensor, kernel: &Tensor, bias: Option<&Tensor>) -> Tensor {
    let Conv { g, f, relu, tracked } = Conv::new(g, relu, x, kernel, bias);
    let (p, k) = (g.out_pixels(), g.kh * g.kw * g.c);
    let m = g.n * p;
    let per_chunk = images_per_chunk(&g, k);
    let bias_values = bias.map(|b| b.to_vec());
    let mut out = buffer::take(m * f);
    // Training keeps the whole im2col matrix for the kernel gradient; inference
    // only ever holds one work item's block per thread.
    let mut kept = if tracked { Some(buffer::take(m * k)) } else { None };
    {
        let (xd, kd) = (x.data(), kernel.data());
        let work = |i: usize, rows: &mut [f32], cols: &mut [f32]| {
            let images = rows.len() / (p * f);
            let start = i * per_chunk * g.image_len();
            im2col(&xd[start..start + images * g.image_len()], &Window { n: images, ..g }, cols);
            if let Some(b) = &bias_values {
                rows.chunks_exact_mut(f).for_each(|r| r.copy_from_slice(b));
            }
            Gemm { m: images * p, k, n: f, trans_a: false, trans_b: false }.run_serial(cols, &kd, rows, bias_values.is_some());
            if relu {
                rows.iter_mut().for_each(|v| *v = v.max(0.0));
            }
        };
        let out_chunks = out.par_chunks_mut(per_chunk * p * f).enumerate();
        match kept.as_mut() {
            Some(cols) => out_chunks.zip(cols.par_chunks_mut(per_chunk * p * k)).for_each(|((i, rows), cols)| work(i, rows, cols)),
            None => out_chunks.for_each(|(i, rows)| {
                let mut cols = buffer::take(rows.len() / f * k);
                work(i, rows, &mut cols);
                buffer::give(cols);
            }),
        }
    }
    let Some(cols) = kept.map(Recycled) else {
        return Tensor::constant(out, vec![g.n, g.oh, g.ow, f]);
    };
    let backward = move |inputs: &[Tensor], y: &[f32], dy_out: &[f32]| {
        let masked = relu.then(|| relu_mask(dy_out, y));
        let dy = masked.as_deref().unwrap_or(dy_out);
        let (x, kernel) = (&inputs[0], &inputs[1]);
        let dx = x.requires_grad().then(|| input_grad(&g, f, &kernel.data(), dy));
        let dk = kernel.requires_grad().then(|| {
            // dK = colsᵀ · dY, summed over fixed row blocks in a fixed order.
            let block = m.div_ceil(KERNEL_GRAD_BLOCKS).max(1);
            sum_partials(m.div_ceil(block), k * f, |b, part| {
                let rows = b * block..((b + 1) * block).min(m);
                Gemm { m: k, k: rows.len(), n: f, trans_a: true, trans_b: false }.run_serial(&cols[rows.start * k..rows.end * k], &dy[rows.start * f..rows.end * f], part, false);
            })
        });
        with_bias_grad(vec![dx, dk], inputs, dy_out, masked, f)
    };
    super::node(if relu { "conv2d_relu" } else { "conv2d" }, out, vec![g.n, g.oh, g.ow, f], x, kernel, bias, backward)
}

/// Kernel gradients are summed over this many fixed blocks of the batch, so
/// the sum's order (and so its rounding) never depends on the thread count.
pub(super) const KERNEL_GRAD_BLOCKS: usize = 8;

/// Runs `part(block, partial)` for `blocks` blocks in parallel, each on its
/// own partial sum, and adds the partials up in order.
pub(super) fn sum_partials(blocks: usize, len: usize, part: impl Fn(usize, &mut [f32]) + Sync) -> Vec<f32> {
    let partials: Vec<Vec<f32>> = (0..blocks)
        .into_par_iter()
        .map(|b| {
            let mut p = buffer::take(len);
            part(b, &mut p);
            p
        })
        .collect();
    super::add_in_order(partials.into_iter(), len)
}

/// The input gradient, image block by image block: `dcols = dY · Kᵀ`, then col2im.
pub(super) fn input_grad(g: &Window, f: usize, kernel: &[f32], dy: &[f32]) -> Vec<f32> {
    let (p, k) = (g.out_pixels(), g.kh * g.kw * g.c);
    let per_chunk = images_per_chunk(g, k);
    let mut dx = buffer::take(g.n * g.image_len());
    dx.par_chunks_mut(per_chunk * g.image_len()).enumerate().for_each(|(i, dx)| {
        let images = dx.len() / g.image_len();
        input_grad_block(&Window { n: images, ..*g }, f, kernel, &dy[i * per_chunk * p * f..(i * per_chunk + images) * p * f], dx);
    });
    dx
}

/// [`input_grad`] of the images of `g` (`dy` and `dx` theirs alone), on the calling thread.
pub(super) fn input_grad_block(g: &Window, f: usize, kernel: &[f32], dy: &[f32], dx: &mut [f32]) {
    let rows = g.n * g.out_pixels();
    let mut dcols = buffer::take(rows * g.kh * g.kw * g.c);
    Gemm { m: rows, k: f, n: g.kh * g.kw * g.c, trans_a: false, trans_b: true }.run_serial(dy, kernel, &mut dcols, false);
    col2im(&dcols, g, dx);
    buffer::give(dcols);
}
