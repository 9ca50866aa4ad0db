//! Convolution on AVX-512 register tiles straight from the images
//! ([`crate::kernels::direct`]). Each pass is split over the batch; the
//! kernel gradient over fixed blocks of it, added up in order.

use rayon::prelude::*;

use crate::buffer::{self, Recycled};
use crate::error::Result;
use crate::kernels::direct::{crop_images, forward_image, input_grad_image, kernel_grad, needs_padding, pad_images, padded_size, transpose_taps};
use crate::kernels::window::Window;
use crate::tensor::Tensor;

use super::{Conv, Grads, KERNEL_GRAD_BLOCKS};

pub(super) fn run(conv: Conv, x: &Tensor, kernel: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let Conv { g, f, relu, tracked } = conv;
    let input = Input::new(&g, x);
    let bias_values = bias.map(|b| b.to_vec());
    let p = g.out_pixels();
    let mut out = buffer::take(g.n * p * f);
    {
        let (xd, kd) = (x.data(), kernel.data());
        out.par_chunks_mut(images_per_chunk(&g) * p * f).enumerate().for_each(|(i, rows)| {
            for (j, y) in rows.chunks_mut(p * f).enumerate() {
                forward_image(input.image(&xd, i * images_per_chunk(&g) + j), &kd, f, &g, bias_values.as_deref(), relu, y);
            }
        });
    }
    let input = input.keep(tracked);
    conv.output(out, x, kernel, bias, move |x, kernel, dy| gradients(&g, f, &input, x, kernel, dy))
}

/// Images per parallel work item.
pub(super) fn images_per_chunk(g: &Window) -> usize {
    g.n.div_ceil(8).max(1)
}

/// The images as the tiles read them: `x` itself, or a zero-bordered copy
/// when some window leaves the image (made once, kept for the kernel gradient).
pub(super) struct Input {
    padded: Option<Recycled>,
    len: usize,
}

impl Input {
    pub(super) fn new(g: &Window, x: &Tensor) -> Input {
        let (ph, pw) = padded_size(g);
        let padded = needs_padding(g).then(|| {
            let mut xp = buffer::take(g.n * ph * pw * g.c);
            pad_images(&x.data(), g, &mut xp);
            Recycled(xp)
        });
        Input { padded, len: ph * pw * g.c }
    }
    /// Image `i`, given `x`'s data.
    pub(super) fn image<'a>(&'a self, x: &'a [f32], i: usize) -> &'a [f32] {
        &self.images(x)[i * self.len..(i + 1) * self.len]
    }
    fn images<'a>(&'a self, x: &'a [f32]) -> &'a [f32] {
        self.padded.as_deref().unwrap_or(x)
    }
    /// Drops the copy unless the backward pass will need it.
    pub(super) fn keep(self, tracked: bool) -> Input {
        Input { padded: self.padded.filter(|_| tracked), ..self }
    }
}

/// The input and kernel gradients for output gradient `dy` (`n * oh * ow * f`).
pub(super) fn gradients(g: &Window, f: usize, input: &Input, x: &Tensor, kernel: &Tensor, dy: &[f32]) -> Grads {
    let (p, c, per_chunk, padded) = (g.out_pixels(), g.c, images_per_chunk(g), needs_padding(g));
    // Spreading gradients back runs the tiles across the input channels:
    // below 16 (one vector) most lanes would idle, so GEMM + col2im does it.
    let scatter = c >= 16;
    let dx = x.requires_grad().then(|| {
        if !scatter {
            return super::im2col::input_grad(g, f, &kernel.data(), dy);
        }
        let mut kt = buffer::take(kernel.numel());
        transpose_taps(&kernel.data(), c, f, &mut kt);
        let mut dx = buffer::take(x.numel());
        dx.par_chunks_mut(per_chunk * g.image_len()).enumerate().for_each(|(i, dx)| {
            let images = dx.len() / g.image_len();
            let mut dxp = if padded { buffer::take(images * input.len) } else { Vec::new() };
            let grads: &mut [f32] = if padded { &mut dxp } else { dx };
            grads.fill(0.0);
            for (j, one) in grads.chunks_mut(input.len).enumerate() {
                let start = (i * per_chunk + j) * p * f;
                input_grad_image(&dy[start..start + p * f], &kt, f, g, one);
            }
            if padded {
                crop_images(&dxp, &Window { n: images, ..*g }, dx);
                buffer::give(dxp);
            }
        });
        buffer::give(kt);
        dx
    });
    let dk = kernel.requires_grad().then(|| {
        let xd = x.data();
        let images = input.images(&xd);
        let block = g.n.div_ceil(KERNEL_GRAD_BLOCKS).max(1);
        super::sum_partials(g.n.div_ceil(block), kernel.numel(), |b, part| {
            let imgs = b * block..((b + 1) * block).min(g.n);
            kernel_grad(&images[imgs.start * input.len..imgs.end * input.len], &dy[imgs.start * p * f..imgs.end * p * f], f, g, part);
        })
    });
    (dx, dk)
}
