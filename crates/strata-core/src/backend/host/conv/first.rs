//! The gradients of a first layer's fused relu convolution + max pooling
//! ([`super::pooled`]): its kernel rows are too short for the maxima's
//! gathers ([`super::maxima`]) and no one needs its input's gradient, so the
//! kernel and bias gradients come from [`pooled_grad`], filters across the
//! vector lanes, without the full-size output gradient the dense passes
//! would write. On a Zen 5, the headline CNN's first layer takes 0.04 ms a
//! training step backward this way, 0.12 by the dense passes.

use rayon::prelude::*;

use crate::autodiff::HostGrads;
use crate::buffer;
use crate::kernels::direct::padded_size;
use crate::kernels::pooled_grad::{self, Maxima};
use crate::kernels::window::Window;
use crate::tensor::Tensor;

use super::direct::{images_per_chunk, Input};
use super::maxima::{offsets_fit, window_origins};

/// Whether this path takes the gradients of `inputs` (`[x, kernel, bias?]`)
/// for convolution window `g` with `f` filters.
pub(super) fn suits(g: &Window, f: usize, inputs: &[Tensor]) -> bool {
    pooled_grad::available() && !inputs[0].requires_grad() && g.kw * g.c < 16 && offsets_fit(g, f)
}

/// The gradients of `[x, kernel, bias?]` (none for `x`), as
/// [`super::maxima::gradients`] takes its arguments. Blocks of images as the
/// dense passes take them, their partial sums added in order: the same bits
/// for any thread count.
pub(super) fn gradients(g: &Window, pool: &Window, input: &Input, inputs: &[Tensor], y: &[f32], dy: &[f32], arg: &[u8]) -> HostGrads {
    let (kernel, bias) = (&inputs[1], inputs.get(2));
    let (f, cells, block) = (pool.c, pool.kh * pool.kw, images_per_chunk(g));
    let q = pool.out_pixels() * f;
    let (_, pw) = padded_size(g);
    let taps: Vec<u32> = (0..g.kh).flat_map(|ky| (0..g.kw * g.c).map(move |i| (ky * pw * g.c + i) as u32)).collect();
    let at = window_origins(g, pool);
    let xd = inputs[0].data();
    let parts: Vec<(Vec<f32>, Vec<f32>)> = (0..g.n.div_ceil(block))
        .into_par_iter()
        .map(|b| {
            let (mut dk, mut db) = (buffer::zeros(taps.len() * f), vec![0.0; f]);
            for i in b * block..((b + 1) * block).min(g.n) {
                let o = i * q..(i + 1) * q;
                let m = Maxima { y: &y[o.clone()], dy: &dy[o.clone()], arg: &arg[o], at: &at, cells, f };
                pooled_grad::add_image(input.image(&xd, i), &taps, &m, &mut dk, &mut db);
            }
            (dk, db)
        })
        .collect();
    let (dks, dbs): (Vec<_>, Vec<_>) = parts.into_iter().unzip();
    let mut grads = vec![None, kernel.requires_grad().then(|| super::add_in_order(dks.into_iter(), taps.len() * f))];
    if let Some(bias) = bias {
        grads.push(bias.requires_grad().then(|| super::add_in_order(dbs.into_iter(), f)));
    }
    grads
}
