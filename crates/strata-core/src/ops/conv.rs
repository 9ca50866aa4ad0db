//! 2-D convolution of NHWC images with a Keras-layout kernel `(kh, kw, in, out)`,
//! bias and (optionally) relu fused into the output pass.

use rayon::prelude::*;

use crate::autodiff::{self, GradFn};
use crate::buffer::{self, Recycled};
use crate::error::{fmt_shape, Error, Result};
use crate::kernels::conv::{col2im, im2col};
use crate::kernels::elementwise::relu_mask;

use super::linear::with_bias_grad;
use crate::kernels::matmul::Gemm;
use crate::kernels::window::{Padding, Window};
use crate::tensor::Tensor;

/// Convolves `x` `[n, h, w, c]` with `kernel` `[kh, kw, c, f]`, adds `bias` `[f]`
/// if given, and returns `[n, oh, ow, f]`.
pub fn conv2d(x: &Tensor, kernel: &Tensor, bias: Option<&Tensor>, strides: (usize, usize), padding: Padding) -> Result<Tensor> {
    conv2d_fused(x, kernel, bias, strides, padding, false)
}

/// Images per work item: enough rows for an efficient matrix product, few
/// enough that one item's im2col block stays in cache. Fixed by the shapes
/// alone (not the thread count), so results never depend on the threads.
fn images_per_chunk(g: &Window, k: usize) -> usize {
    let cache_sized = (1 << 16) / (g.out_pixels() * k).max(1);
    // At least 8 items per batch where possible, so two to four threads share the work evenly.
    cache_sized.min(g.n.div_ceil(8)).max(1)
}

/// Partial sums of `dK = colsᵀ · dY` are taken over this many fixed blocks of rows.
const KERNEL_GRAD_BLOCKS: usize = 8;

/// [`conv2d`] followed by relu when `relu`, in one pass over the output.
///
/// Work is split over the batch: each work item lays out the im2col rows of
/// a few images and multiplies them on one thread while they are in cache.
pub fn conv2d_fused(x: &Tensor, kernel: &Tensor, bias: Option<&Tensor>, strides: (usize, usize), padding: Padding, relu: bool) -> Result<Tensor> {
    let g = geometry(x, kernel, bias, strides, padding)?;
    let f = kernel.shape()[3];
    let (p, k) = (g.out_pixels(), kernel.shape()[..3].iter().product::<usize>());
    let m = g.n * p;
    let per_chunk = images_per_chunk(&g, k);
    let tracked = autodiff::is_enabled() && (x.requires_grad() || kernel.requires_grad() || bias.is_some_and(|b| b.requires_grad()));
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
    let Some(cols) = kept else {
        return Tensor::new(out, &[g.n, g.oh, g.ow, f]);
    };
    let cols = Recycled(cols);

    let mut inputs = vec![x.clone(), kernel.clone()];
    inputs.extend(bias.cloned());
    let backward = move |inputs: &[Tensor], y: &[f32], dy_out: &[f32]| {
        let masked = relu.then(|| relu_mask(dy_out, y));
        let dy = masked.as_deref().unwrap_or(dy_out);
        let (x, kernel) = (&inputs[0], &inputs[1]);
        let dx = x.requires_grad().then(|| {
            // dX, image block by image block: dcols = dY · Kᵀ, then col2im.
            let mut dx = buffer::take(x.numel());
            let kd = kernel.data();
            dx.par_chunks_mut(per_chunk * g.image_len()).enumerate().for_each(|(i, dx)| {
                let images = dx.len() / g.image_len();
                let rows = i * per_chunk * p..(i * per_chunk + images) * p;
                let mut dcols = buffer::take(images * p * k);
                Gemm { m: images * p, k: f, n: k, trans_a: false, trans_b: true }.run_serial(&dy[rows.start * f..rows.end * f], &kd, &mut dcols, false);
                col2im(&dcols, &Window { n: images, ..g }, dx);
                buffer::give(dcols);
            });
            dx
        });
        let dk = kernel.requires_grad().then(|| {
            // dK = colsᵀ · dY, summed over fixed row blocks in a fixed order.
            let block = m.div_ceil(KERNEL_GRAD_BLOCKS).max(1);
            let partials: Vec<Vec<f32>> = (0..m.div_ceil(block))
                .into_par_iter()
                .map(|b| {
                    let rows = b * block..((b + 1) * block).min(m);
                    let mut part = buffer::take(k * f);
                    Gemm { m: k, k: rows.len(), n: f, trans_a: true, trans_b: false }.run_serial(&cols[rows.start * k..rows.end * k], &dy[rows.start * f..rows.end * f], &mut part, false);
                    part
                })
                .collect();
            let mut parts = partials.into_iter();
            let mut dk = parts.next().unwrap_or_else(|| buffer::zeros(k * f));
            for part in parts {
                dk.iter_mut().zip(&part).for_each(|(a, b)| *a += b);
                buffer::give(part);
            }
            dk
        });
        with_bias_grad(vec![dx, dk], inputs, dy_out, masked, f)
    };
    Ok(Tensor::from_op(out, vec![g.n, g.oh, g.ow, f], GradFn::new(if relu { "conv2d_relu" } else { "conv2d" }, inputs, Box::new(backward))))
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
