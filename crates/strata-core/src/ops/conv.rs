//! 2-D convolution of NHWC images with a Keras-layout kernel `(kh, kw, in, out)`,
//! bias and (optionally) relu fused into the output pass, and the fused
//! relu convolution + max pooling that the model's plan rewrites pairs into.

use crate::error::{fmt_shape, Error, Result};
use crate::kernels::window::{Padding, Window};
use crate::tensor::Tensor;

use super::same_device;

/// Convolves `x` `[n, h, w, c]` with `kernel` `[kh, kw, c, f]`, adds `bias` `[f]`
/// if given, and returns `[n, oh, ow, f]`.
pub fn conv2d(x: &Tensor, kernel: &Tensor, bias: Option<&Tensor>, strides: (usize, usize), padding: Padding) -> Result<Tensor> {
    conv2d_fused(x, kernel, bias, strides, padding, false)
}

/// [`conv2d`] followed by relu when `relu`, in one pass over the output.
pub fn conv2d_fused(x: &Tensor, kernel: &Tensor, bias: Option<&Tensor>, strides: (usize, usize), padding: Padding, relu: bool) -> Result<Tensor> {
    let g = geometry(x, kernel, bias, strides, padding)?;
    Ok(x.backend().conv2d(x, kernel, bias, g, relu))
}

/// `max_pool2d(relu(conv2d(x, kernel) + bias), pool, strides = pool, valid)`,
/// as one op where the backend fuses it: each image's convolution is pooled
/// while it is in cache. The values are the two ops' (bit for bit); the
/// gradients agree to rounding.
pub fn conv2d_relu_max_pool(x: &Tensor, kernel: &Tensor, bias: Option<&Tensor>, strides: (usize, usize), padding: Padding, pool: (usize, usize)) -> Result<Tensor> {
    let g = geometry(x, kernel, bias, strides, padding)?;
    let f = kernel.shape()[3];
    let pooled = Window::new([g.n, g.oh, g.ow, f], pool, pool, Padding::Valid)
        .filter(|_| pool.0 > 0 && pool.1 > 0)
        .ok_or_else(|| Error::shape("conv2d_relu_max_pool", format!("a {pool:?} pool does not fit the convolution's output {}", fmt_shape(&[g.n, g.oh, g.ow, f]))))?;
    Ok(x.backend().conv2d_relu_max_pool(x, kernel, bias, g, pooled))
}

/// The transposed convolution (Keras's `Conv2DTranspose`) of `x` `[n, h, w, in]`
/// with `kernel` `(kh, kw, filters, in)` (dilation already expanded into it),
/// plus `bias` `[filters]`. The output size per axis is Keras's: with no
/// `output_padding`, `in * s + max(k - s, 0)` (`valid`) or `in * s` (`same`);
/// with one, `(in - 1) * s + k - 2 * pad + output_padding`, `pad = k / 2` for `same`.
pub fn conv2d_transpose(x: &Tensor, kernel: &Tensor, bias: Option<&Tensor>, strides: (usize, usize), padding: Padding, output_padding: Option<(usize, usize)>) -> Result<Tensor> {
    let mut operands = vec![x, kernel];
    operands.extend(bias);
    same_device("conv2d_transpose", &operands)?;
    let (xs, ks) = (x.shape(), kernel.shape());
    if xs.len() != 4 || ks.len() != 4 || ks[3] != xs[3] || ks[0] == 0 || ks[1] == 0 || ks[2] == 0 || xs[3] == 0 {
        return Err(Error::shape(
            "conv2d_transpose",
            format!("kernel {} does not fit input {}: need input [batch, height, width, channels] and kernel [kh, kw, filters, {}]", fmt_shape(ks), fmt_shape(xs), xs.get(3).copied().unwrap_or(0)),
        ));
    }
    let f = ks[2];
    if let Some(b) = bias.filter(|b| b.shape() != [f]) {
        return Err(Error::shape("conv2d_transpose", format!("bias must have shape ({f},), got {}", fmt_shape(b.shape()))));
    }
    if strides.0 == 0 || strides.1 == 0 {
        return Err(Error::shape("conv2d_transpose", format!("strides must be positive, got {strides:?}")));
    }
    conv2d_transpose_window([xs[0], xs[1], xs[2]], (ks[0], ks[1], f), strides, padding, output_padding)
        .map(|g| x.backend().conv2d_transpose(x, kernel, bias, g))
        .ok_or_else(|| {
            Error::shape(
                "conv2d_transpose",
                format!("output_padding {output_padding:?} with strides {strides:?}, a {}x{} kernel and '{}' padding gives no output for input {}", ks[0], ks[1], padding.name(), fmt_shape(xs)),
            )
        })
}

/// The convolution that maps a transposed convolution's output `[n, oh, ow, f]`
/// back to its input `[n, h, w, _]`, or `None` when Keras's output size
/// ([`transpose_output_len`]) does not map back (TensorFlow refuses those too:
/// `same` padding, an even kernel and no output padding at stride 1, say).
pub fn conv2d_transpose_window([n, h, w]: [usize; 3], (kh, kw, f): (usize, usize, usize), strides: (usize, usize), padding: Padding, output_padding: Option<(usize, usize)>) -> Option<Window> {
    let oh = transpose_output_len(h, kh, strides.0, padding, output_padding.map(|p| p.0));
    let ow = transpose_output_len(w, kw, strides.1, padding, output_padding.map(|p| p.1));
    Window::new([n, oh, ow, f], (kh, kw), strides, padding).filter(|g| oh > 0 && ow > 0 && (g.oh, g.ow) == (h, w))
}

/// Keras's transposed-convolution output length along one axis.
pub fn transpose_output_len(input: usize, k: usize, s: usize, padding: Padding, output_padding: Option<usize>) -> usize {
    match (output_padding, padding) {
        (None, Padding::Valid) => input * s + k.saturating_sub(s),
        (None, Padding::Same) => input * s,
        (Some(op), _) => {
            let pad = if padding == Padding::Same { k / 2 } else { 0 };
            ((input.max(1) - 1) * s + k + op).saturating_sub(2 * pad)
        }
    }
}

/// Validates the operands and returns the window geometry.
fn geometry(x: &Tensor, kernel: &Tensor, bias: Option<&Tensor>, strides: (usize, usize), padding: Padding) -> Result<Window> {
    let mut operands = vec![x, kernel];
    operands.extend(bias);
    same_device("conv2d", &operands)?;
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
    use crate::backend::{Backend, Cpu, Portable};
    use crate::rng::Rng;

    /// The two backends' convolutions (tiles and im2col + GEMM) give the same
    /// values and gradients, alone and fused with pooling; the
    /// finite-difference tests check whichever backend the test run uses.
    #[test]
    fn both_backends_agree() {
        if !crate::kernels::tile::available() {
            eprintln!("skipped: this CPU runs no tiles (neither AVX-512 nor AVX2 with FMA), so only the im2col path exists here");
            return;
        }
        let mut rng = Rng::new(17);
        let mut var = |shape: &[usize]| Tensor::variable((0..shape.iter().product()).map(|_| rng.normal()).collect(), shape).unwrap();
        // `data`: the input is a constant, as a first layer's (its fused
        // backward then takes the kernel and bias alone, filters across lanes).
        for (xs, k, f, strides, padding, relu, data) in [
            ([3, 9, 8, 20], (3, 3), 70, (1, 1), Padding::Same, true, false),
            ([2, 11, 7, 3], (2, 3), 5, (2, 3), Padding::Valid, false, false),
            ([4, 6, 6, 33], (3, 3), 16, (2, 2), Padding::Same, true, false),
            ([5, 12, 11, 1], (3, 3), 32, (1, 1), Padding::Valid, true, true),
            ([3, 9, 10, 3], (3, 3), 20, (1, 1), Padding::Same, true, true),
            ([2, 13, 13, 1], (5, 5), 40, (2, 2), Padding::Same, true, true),
        ] {
            let x = var(&xs);
            let x = if data { x.detach() } else { x };
            let (kernel, bias) = (var(&[k.0, k.1, xs[3], f]), var(&[f]));
            let g = geometry(&x, &kernel, Some(&bias), strides, padding).unwrap();
            let (direct, gemm) = match relu {
                true => {
                    let pool = Window::new([g.n, g.oh, g.ow, f], (2, 2), (2, 2), Padding::Valid).unwrap();
                    (Cpu.conv2d_relu_max_pool(&x, &kernel, Some(&bias), g, pool), Portable.conv2d_relu_max_pool(&x, &kernel, Some(&bias), g, pool))
                }
                false => (Cpu.conv2d(&x, &kernel, Some(&bias), g, relu), Portable.conv2d(&x, &kernel, Some(&bias), g, relu)),
            };
            let weights = Tensor::new((0..direct.numel()).map(|i| (i % 7) as f32 - 3.0).collect(), direct.shape()).unwrap();
            let gd = direct.mul(&weights).unwrap().sum().backward().unwrap();
            let gg = gemm.mul(&weights).unwrap().sum().backward().unwrap();
            let grads = [&x, &kernel, &bias].into_iter().filter(|t| t.requires_grad());
            let pairs = [(direct.to_vec(), gemm.to_vec())].into_iter().chain(grads.map(|t| (gd.get(t).unwrap().to_vec(), gg.get(t).unwrap().to_vec())));
            for (which, (a, b)) in pairs.enumerate() {
                for (i, (u, v)) in a.iter().zip(&b).enumerate() {
                    assert!((u - v).abs() <= 1e-4 * (1.0 + v.abs()), "{xs:?} part {which} [{i}]: {u} vs {v}");
                }
            }
        }
    }
}
