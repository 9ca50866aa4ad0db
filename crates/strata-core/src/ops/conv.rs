//! 2-D convolution of NHWC images with a Keras-layout kernel `(kh, kw, in, out)`,
//! bias fused into the output pass.

use crate::autodiff::GradFn;
use crate::error::{fmt_shape, Error, Result};
use crate::kernels::conv::{col2im, im2col};
use crate::kernels::elementwise::sum_rows;
use crate::kernels::matmul::Gemm;
use crate::kernels::window::{Padding, Window};
use crate::tensor::Tensor;

/// Convolves `x` `[n, h, w, c]` with `kernel` `[kh, kw, c, f]`, adds `bias` `[f]`
/// if given, and returns `[n, oh, ow, f]`.
pub fn conv2d(x: &Tensor, kernel: &Tensor, bias: Option<&Tensor>, strides: (usize, usize), padding: Padding) -> Result<Tensor> {
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
    let g = Window::new([xs[0], xs[1], xs[2], xs[3]], (ks[0], ks[1]), strides, padding).ok_or_else(|| {
        Error::shape("conv2d", format!("a {}x{} kernel does not fit input {} with '{}' padding", ks[0], ks[1], fmt_shape(xs), padding.name()))
    })?;
    let (m, k) = (g.n * g.out_pixels(), ks[0] * ks[1] * ks[2]);
    let mut cols = vec![0.0; m * k];
    im2col(&x.data(), &g, &mut cols);
    let mut out = vec![0.0; m * f];
    if let Some(b) = bias {
        let b = b.data();
        out.chunks_exact_mut(f).for_each(|row| row.copy_from_slice(&b));
    }
    Gemm { m, k, n: f, trans_a: false, trans_b: false }.run(&cols, &kernel.data(), &mut out, bias.is_some());

    let mut inputs = vec![x.clone(), kernel.clone()];
    inputs.extend(bias.cloned());
    let backward = move |inputs: &[Tensor], dy: &[f32]| {
        let (x, kernel) = (&inputs[0], &inputs[1]);
        let dx = x.requires_grad().then(|| {
            let mut dcols = vec![0.0; m * k];
            Gemm { m, k: f, n: k, trans_a: false, trans_b: true }.run(dy, &kernel.data(), &mut dcols, false);
            let mut dx = vec![0.0; x.numel()];
            col2im(&dcols, &g, &mut dx);
            dx
        });
        let dk = kernel.requires_grad().then(|| {
            let mut dk = vec![0.0; k * f];
            Gemm { m: k, k: m, n: f, trans_a: true, trans_b: false }.run(&cols, dy, &mut dk, false);
            dk
        });
        let mut grads = vec![dx, dk];
        if let Some(b) = inputs.get(2) {
            grads.push(b.requires_grad().then(|| sum_rows(dy, f)));
        }
        grads
    };
    Ok(Tensor::from_op(out, vec![g.n, g.oh, g.ow, f], GradFn::new("conv2d", inputs, Box::new(backward))))
}
