//! Convolution on AVX-512 register tiles straight from the images
//! ([`crate::kernels::direct`]). Each pass is split over the batch; the
//! kernel gradient over fixed blocks of it, added up in order.

use rayon::prelude::*;

use crate::buffer::{self, Recycled};
use crate::error::Result;
use crate::kernels::direct::{crop_images, forward_image, input_grad_image, kernel_grad, needs_padding, pad_images, padded_size, transpose_taps};
use crate::kernels::window::Window;
use crate::tensor::Tensor;

use super::{Conv, KERNEL_GRAD_BLOCKS};

pub(super) fn run(conv: Conv, x: &Tensor, kernel: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let Conv { g, f, relu, tracked } = conv;
    let padded = needs_padding(&g);
    let (ph, pw) = padded_size(&g);
    let padded_len = ph * pw * g.c;
    // Padded inputs are copied once; training keeps the copy for the kernel gradient.
    let xp = padded.then(|| {
        let mut xp = buffer::take(g.n * padded_len);
        pad_images(&x.data(), &g, &mut xp);
        Recycled(xp)
    });
    let bias_values = bias.map(|b| b.to_vec());
    let (p, per_chunk) = (g.out_pixels(), g.n.div_ceil(8).max(1));
    let mut out = buffer::take(g.n * p * f);
    {
        let (xd, kd) = (x.data(), kernel.data());
        let images: &[f32] = xp.as_deref().unwrap_or(&xd);
        out.par_chunks_mut(per_chunk * p * f).enumerate().for_each(|(i, rows)| {
            for (j, y) in rows.chunks_mut(p * f).enumerate() {
                let img = (i * per_chunk + j) * padded_len;
                forward_image(&images[img..img + padded_len], &kd, f, &g, bias_values.as_deref(), relu, y);
            }
        });
    }
    let xp = xp.filter(|_| tracked);
    conv.output(out, x, kernel, bias, move |x, kernel, dy| {
        let c = g.c;
        let dx = x.requires_grad().then(|| {
            let mut kt = buffer::take(kernel.numel());
            transpose_taps(&kernel.data(), c, f, &mut kt);
            let mut dx = buffer::take(x.numel());
            dx.par_chunks_mut(per_chunk * g.image_len()).enumerate().for_each(|(i, dx)| {
                let images = dx.len() / g.image_len();
                let mut dxp = if padded { buffer::take(images * padded_len) } else { Vec::new() };
                let grads: &mut [f32] = if padded { &mut dxp } else { dx };
                grads.fill(0.0);
                for (j, one) in grads.chunks_mut(padded_len).enumerate() {
                    let start = (i * per_chunk + j) * p * f;
                    input_grad_image(&dy[start..start + p * f], &kt, f, &g, one);
                }
                if padded {
                    crop_images(&dxp, &Window { n: images, ..g }, dx);
                    buffer::give(dxp);
                }
            });
            buffer::give(kt);
            dx
        });
        let dk = kernel.requires_grad().then(|| {
            let xd = x.data();
            let images: &[f32] = xp.as_deref().unwrap_or(&xd);
            let block = g.n.div_ceil(KERNEL_GRAD_BLOCKS).max(1);
            super::sum_partials(g.n.div_ceil(block), kernel.numel(), |b, part| {
                let imgs = b * block..((b + 1) * block).min(g.n);
                kernel_grad(&images[imgs.start * padded_len..imgs.end * padded_len], &dy[imgs.start * p * f..imgs.end * p * f], f, &g, part);
            })
        });
        (dx, dk)
    })
}
