//! Convolution by im2col + matrix multiply (the `gemm` crate), for CPUs
//! without AVX-512. Work is split over the batch: each work item lays out
//! the im2col rows of a few images and multiplies them on one thread while
//! they are in cache.

use rayon::prelude::*;

use crate::buffer::{self, Recycled};
use crate::error::Result;
use crate::kernels::conv::{col2im, im2col};
use crate::kernels::matmul::Gemm;
use crate::kernels::window::Window;
use crate::tensor::Tensor;

use super::{Conv, KERNEL_GRAD_BLOCKS};

/// Images per work item: enough rows for an efficient matrix product, few
/// enough that one item's im2col block stays in cache. Fixed by the shapes
/// alone (not the thread count), so results never depend on the threads.
fn images_per_chunk(g: &Window, k: usize) -> usize {
    let cache_sized = (1 << 16) / (g.out_pixels() * k).max(1);
    // At least 8 items per batch where possible, so two to four threads share the work evenly.
    cache_sized.min(g.n.div_ceil(8)).max(1)
}

pub(super) fn run(conv: Conv, x: &Tensor, kernel: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let Conv { g, f, relu, tracked } = conv;
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
    let cols = kept.map(Recycled);
    conv.output(out, x, kernel, bias, move |x, kernel, dy| {
        let cols = cols.as_ref().expect("a tracked convolution keeps its im2col matrix");
        let dx = x.requires_grad().then(|| input_grad(&g, f, &kernel.data(), dy));
        let dk = kernel.requires_grad().then(|| {
            // dK = colsᵀ · dY, summed over fixed row blocks in a fixed order.
            let block = m.div_ceil(KERNEL_GRAD_BLOCKS).max(1);
            super::sum_partials(m.div_ceil(block), k * f, |b, part| {
                let rows = b * block..((b + 1) * block).min(m);
                Gemm { m: k, k: rows.len(), n: f, trans_a: true, trans_b: false }.run_serial(&cols[rows.start * k..rows.end * k], &dy[rows.start * f..rows.end * f], part, false);
            })
        });
        (dx, dk)
    })
}

/// The input gradient, image block by image block: `dcols = dY · Kᵀ`, then col2im.
pub(super) fn input_grad(g: &Window, f: usize, kernel: &[f32], dy: &[f32]) -> Vec<f32> {
    let (p, k) = (g.out_pixels(), g.kh * g.kw * g.c);
    let per_chunk = images_per_chunk(g, k);
    let mut dx = buffer::take(g.n * g.image_len());
    dx.par_chunks_mut(per_chunk * g.image_len()).enumerate().for_each(|(i, dx)| {
        let images = dx.len() / g.image_len();
        let rows = i * per_chunk * p..(i * per_chunk + images) * p;
        let mut dcols = buffer::take(images * p * k);
        Gemm { m: images * p, k: f, n: k, trans_a: false, trans_b: true }.run_serial(&dy[rows.start * f..rows.end * f], kernel, &mut dcols, false);
        col2im(&dcols, &Window { n: images, ..*g }, dx);
        buffer::give(dcols);
    });
    dx
}
