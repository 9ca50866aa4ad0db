//! A first layer's fused relu convolution + max pooling ([`super::pooled`])
//! on [`first_layer`]'s kernels, filters across the vector lanes: its kernel
//! rows (`kw * c` values) are shorter than a vector, too short for the
//! tiles' sums and for the maxima's gathers ([`super::maxima`]). On a Zen 5,
//! the headline CNN's first layer takes 0.037 ms a training step forward
//! and 0.027 backward this way (AVX-512), 0.091 and 0.119 on the tiles and
//! the dense passes; with AVX2, 0.12 and 0.15 against 0.20 and 0.23.

use rayon::prelude::*;

use crate::autodiff::HostGrads;
use crate::buffer;
use crate::kernels::direct::padded_size;
use crate::kernels::first_layer::{self, Maxima, Weights};
use crate::kernels::window::Window;
use crate::profile;
use crate::tensor::Tensor;

use super::direct::{images_per_chunk, Input};
use super::maxima::{offsets_fit, window_origins};

/// Where the kernels read a (padded) image: each kernel tap's offset from
/// an input window's origin, and the origin of each pooling window's cells.
pub(super) struct Layout {
    taps: Vec<u32>,
    at: Vec<u32>,
    cells: usize,
    /// The image's row width where each pooling window reads a 4x4 patch
    /// ([`first_layer::patch_row`]: the headline CNN's first layer).
    patch_row: Option<usize>,
}

impl Layout {
    /// The layout for convolution window `g` (over the outputs the pooling
    /// reads) with `f` filters, pooled by `pool` (one image of them); none
    /// where these kernels do not suit the layer or the CPU.
    pub(super) fn new(g: &Window, pool: &Window) -> Option<Layout> {
        if !(first_layer::available() && g.kw * g.c < 16 && offsets_fit(g, pool.c)) {
            return None;
        }
        let (_, pw) = padded_size(g);
        let taps: Vec<u32> = (0..g.kh).flat_map(|ky| (0..g.kw * g.c).map(move |i| (ky * pw * g.c + i) as u32)).collect();
        let (at, cells) = (window_origins(g, pool), pool.kh * pool.kw);
        let patch_row = first_layer::patch_row(&taps, &at, cells);
        Some(Layout { taps, at, cells, patch_row })
    }

    /// Writes the pooled outputs `y` and their maxima's cells `arg` of the
    /// pooling windows `windows` of `image`, for `kernel` and `bias`.
    pub(super) fn forward(&self, image: &[f32], kernel: &[f32], bias: Option<&[f32]>, windows: std::ops::Range<usize>, y: &mut [f32], arg: &mut [u8]) {
        let weights = Weights { kernel, bias, taps: &self.taps, f: kernel.len() / self.taps.len() };
        first_layer::forward(image, &weights, &self.at[windows.start * self.cells..windows.end * self.cells], self.cells, y, arg);
    }
}

/// The gradients of `[x, kernel, bias?]`, none for `x` (`None` when `x`
/// needs one: the caller takes another path), as [`super::maxima::gradients`]
/// takes its arguments. Blocks of images as the dense passes take them,
/// their partial sums added in order: the same bits for any thread count.
#[allow(clippy::too_many_arguments)]
pub(super) fn gradients(layout: &Layout, g: &Window, pool: &Window, input: &Input, inputs: &[Tensor], y: &[f32], dy: &[f32], arg: &[u8]) -> Option<HostGrads> {
    let (x, kernel, bias) = (&inputs[0], &inputs[1], inputs.get(2));
    if x.requires_grad() {
        return None;
    }
    let (f, taps, block) = (pool.c, layout.taps.len(), images_per_chunk(g));
    let q = pool.out_pixels() * f;
    let xd = x.data();
    let parts: Vec<(Vec<f32>, Vec<f32>)> = (0..g.n.div_ceil(block))
        .into_par_iter()
        .map(|b| {
            let (mut dk, mut db) = (buffer::zeros(taps * f), vec![0.0; f]);
            for i in b * block..((b + 1) * block).min(g.n) {
                let o = i * q..(i + 1) * q;
                let m = Maxima { y: &y[o.clone()], dy: &dy[o.clone()], arg: &arg[o], at: &layout.at, cells: layout.cells, f };
                match layout.patch_row {
                    Some(row) => first_layer::add_image_patch(input.image(&xd, i), row, &m, &mut dk, &mut db),
                    None => first_layer::add_image(input.image(&xd, i), &layout.taps, &m, &mut dk, &mut db),
                }
            }
            (dk, db)
        })
        .collect();
    if layout.patch_row.is_some() && kernel.requires_grad() {
        // One multiply-add per window, tap and filter, where the dense pass does one per cell.
        profile::add_skipped_flops(2 * (g.n * pool.out_pixels() * (layout.cells - 1) * f * taps) as u64);
    }
    let (dks, dbs): (Vec<_>, Vec<_>) = parts.into_iter().unzip();
    let mut grads = vec![None, kernel.requires_grad().then(|| super::add_in_order(dks.into_iter(), taps * f))];
    if let Some(bias) = bias {
        grads.push(bias.requires_grad().then(|| super::add_in_order(dbs.into_iter(), f)));
    }
    Some(grads)
}
