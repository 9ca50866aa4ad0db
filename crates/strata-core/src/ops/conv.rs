//! 2-D convolution of NHWC images with a Keras-layout kernel `(kh, kw, in, out)`,
//! bias and (optionally) relu fused into the output pass.

use rayon::prelude::*;

use crate::autodiff::{self, GradFn};
use crate::buffer::{self, Recycled};
use crate::error::{fmt_shape, Error, Result};
use crate::kernels::conv::{col2im, im2col};
use crate::kernels::elementwise::{sum_rows, zip_map};
use crate::kernels::matmul::Gemm;
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
    let f = kernel.shape()[3];
    let (m, k) = (g.n * g.out_pixels(), kernel.shape()[..3].iter().product::<usize>());
    let mut out = buffer::take(m * f);
    let tracked = autodiff::is_enabled() && (x.requires_grad() || kernel.requires_grad() || bias.is_some_and(|b| b.requires_grad()));
    let bias_values = bias.map(|b| b.to_vec());
    let finish = |rows: &mut [f32], cols: &[f32], kernel: &[f32], serial: bool| {
        if let Some(b) = &bias_values {
            rows.chunks_exact_mut(f).for_each(|r| r.copy_from_slice(b));
        }
        let gemm = Gemm { m: rows.len() / f, k, n: f, trans_a: false, trans_b: false };
        if serial {
            gemm.run_serial(cols, kernel, rows, bias_values.is_some());
        } else {
            gemm.run(cols, kernel, rows, bias_values.is_some());
        }
        if relu {
            rows.iter_mut().for_each(|v| *v = v.max(0.0));
        }
    };
    if !tracked {
        // Inference: small batches of images at a time, one per thread, so the
        // im2col matrix stays in cache and is never materialised whole.
        let per_chunk = ((1 << 16) / (g.out_pixels() * k).max(1)).clamp(1, g.n.max(1));
        let (xd, kd) = (x.data(), kernel.data());
        out.par_chunks_mut(per_chunk * g.out_pixels() * f).enumerate().for_each(|(i, rows)| {
            let images = rows.len() / (g.out_pixels() * f);
            let sub = Window { n: images, ..g };
            let start = i * per_chunk * g.image_len();
            let mut cols = buffer::take(images * g.out_pixels() * k);
            im2col(&xd[start..start + images * g.image_len()], &sub, &mut cols);
            finish(rows, &cols, &kd, true);
            buffer::give(cols);
        });
        drop((xd, kd));
        return Tensor::new(out, &[g.n, g.oh, g.ow, f]);
    }
    let mut cols = buffer::take(m * k);
    im2col(&x.data(), &g, &mut cols);
    finish(&mut out, &cols, &kernel.data(), false);
    let cols = Recycled(cols);

    let mut inputs = vec![x.clone(), kernel.clone()];
    inputs.extend(bias.cloned());
    let backward = move |inputs: &[Tensor], y: &[f32], dy: &[f32]| {
        let masked = relu.then(|| zip_map(dy, y, |d, y| if y > 0.0 { d } else { 0.0 }));
        let dy = masked.as_deref().unwrap_or(dy);
        let (x, kernel) = (&inputs[0], &inputs[1]);
        let dx = x.requires_grad().then(|| {
            let mut dcols = buffer::take(m * k);
            Gemm { m, k: f, n: k, trans_a: false, trans_b: true }.run(dy, &kernel.data(), &mut dcols, false);
            let mut dx = buffer::take(x.numel());
            col2im(&dcols, &g, &mut dx);
            buffer::give(dcols);
            dx
        });
        let dk = kernel.requires_grad().then(|| {
            let mut dk = buffer::take(k * f);
            Gemm { m: k, k: m, n: f, trans_a: true, trans_b: false }.run(&cols, dy, &mut dk, false);
            dk
        });
        let mut grads = vec![dx, dk];
        if let Some(b) = inputs.get(2) {
            grads.push(b.requires_grad().then(|| sum_rows(dy, f)));
        }
        if let Some(m) = masked {
            buffer::give(m);
        }
        grads
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
