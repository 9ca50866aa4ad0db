//! Convolution on register tiles (AVX-512, or AVX2 and FMA) straight from the images
//! ([`crate::kernels::direct`]). Each pass is split over the batch; the
//! kernel gradient over fixed blocks of it, added up in order.

use rayon::prelude::*;

use std::ops::Range;
use std::sync::Arc;

use crate::autodiff::HostGrads;
use crate::buffer::{self, Recycled};
use crate::kernels::direct::{crop_images, forward_rows, input_grad_image, kernel_grad, needs_padding, pad_images, padded_size, transpose_taps};
use crate::kernels::elementwise::sum_rows;
use crate::kernels::tile::{self, Isa};
use crate::kernels::window::Window;
use crate::kernels::winograd::{self, Scratch};
use crate::tensor::Tensor;

use super::Conv;

/// Whether the tiles suit a convolution over window `g` with `f` filters
/// better than the portable paths. Measured on an AVX2 host (medians of 15
/// alternated calls, forward and backward): few filters leave most of a
/// tile's columns idle (a generator's 64-to-1 layer ran 4x slower than on
/// the thin path), and a stride of 2 made the tiles 0.8x im2col + GEMM
/// there (a DCGAN discriminator's 4x4 layers), while 3x3 stride-1 layers ran
/// 1.6x faster forward (Winograd's blocks) and about even backward.
/// AVX-512's wider tiles, tuned on other hosts, keep strided convolutions.
pub(crate) fn suits(g: &Window, f: usize) -> bool {
    let strided = g.sh > 1 || g.sw > 1;
    tile::available() && f > super::thin::MAX_FILTERS && !(strided && tile::isa() == Some(Isa::Avx2))
}

/// The convolution over window `g` (relu fused when `relu`).
pub(crate) fn run(g: Window, relu: bool, x: &Tensor, kernel: &Tensor, bias: Option<&Tensor>) -> Tensor {
    let Conv { g, f, relu, tracked } = Conv::new(g, relu, x, kernel, bias);
    let input = Input::new(&g, x);
    let bias_values = bias.map(|b| b.to_vec());
    let p = g.out_pixels();
    let mut out = buffer::take(g.n * p * f);
    {
        let (xd, kd) = (x.data(), kernel.data());
        let forward = Forward::new(&g, kernel, &kd, f);
        out.par_chunks_mut(images_per_chunk(&g) * p * f).enumerate().for_each(|(i, rows)| {
            let mut scratch = Scratch::default();
            for (j, y) in rows.chunks_mut(p * f).enumerate() {
                forward.image(input.image(&xd, i * images_per_chunk(&g) + j), bias_values.as_deref(), relu, &mut scratch, y);
            }
        });
    }
    if !tracked {
        return Tensor::constant(out, vec![g.n, g.oh, g.ow, f]);
    }
    let backward = move |inputs: &[Tensor], y: &[f32], dy_out: &[f32]| {
        gradients(&g, f, &input, inputs, |imgs, d| {
            let rows = imgs.start * p * f..imgs.end * p * f;
            match relu {
                true => d.iter_mut().zip(&dy_out[rows.clone()]).zip(&y[rows]).for_each(|((d, &g), &y)| *d = if y > 0.0 { g } else { 0.0 }),
                false => d.copy_from_slice(&dy_out[rows]),
            }
        })
    };
    super::node(if relu { "conv2d_relu" } else { "conv2d" }, out, vec![g.n, g.oh, g.ow, f], x, kernel, bias, backward)
}

/// The forward pass of one image: Winograd's F(2x2, 3x3) where it applies
/// (with the kernel transformed once for as long as the weights do not
/// change: [`Tensor::derived`]), else direct tiles.
pub(super) struct Forward<'a> {
    g: Window,
    kernel: &'a [f32],
    f: usize,
    winograd: Option<Arc<Vec<f32>>>,
}

impl<'a> Forward<'a> {
    /// The pass for window `g` with `kernel` (whose elements are `values`) and `f` filters.
    pub(super) fn new(g: &Window, kernel: &Tensor, values: &'a [f32], f: usize) -> Forward<'a> {
        let winograd = winograd::eligible(g).then(|| {
            kernel.derived("winograd F(2x2, 3x3) kernel", |k| {
                let mut u = vec![0.0; 16 * g.c * f];
                winograd::transform_kernel(k, g.c, f, &mut u);
                u
            })
        });
        Forward { g: *g, kernel: values, f, winograd }
    }
    /// Writes the `g.oh * g.ow * f` outputs of `image` (as [`Input::image`] gives it) to `y`.
    pub(super) fn image(&self, image: &[f32], bias: Option<&[f32]>, relu: bool, scratch: &mut Scratch, y: &mut [f32]) {
        self.rows(image, 0..self.g.oh, bias, relu, scratch, y)
    }
    /// [`Forward::image`] for output rows `rows` only (`y` holds them). With
    /// Winograd's 2x2 blocks, `rows` starts at an even row and ends at one or at the last row.
    pub(super) fn rows(&self, image: &[f32], rows: Range<usize>, bias: Option<&[f32]>, relu: bool, scratch: &mut Scratch, y: &mut [f32]) {
        let g = &self.g;
        match &self.winograd {
            Some(u) => {
                let (height, width) = padded_size(g);
                let band = rows.start / 2..rows.end.div_ceil(2);
                assert!(rows.start.is_multiple_of(2) && (rows.end.is_multiple_of(2) || rows.end == g.oh), "Winograd rows {rows:?} split a 2x2 block");
                winograd::forward_band(image, height, width, g, u, self.f, bias, relu, scratch, band, y)
            }
            None => forward_rows(image, self.kernel, self.f, g, rows, bias, relu, y),
        }
    }
    /// [`Forward::rows`] with relu, each 2x2 block max pooled (`y` and
    /// `arg` as the pooling gives them), where [`Forward::pools`].
    pub(super) fn rows_pooled(&self, image: &[f32], rows: Range<usize>, bias: Option<&[f32]>, scratch: &mut Scratch, y: &mut [f32], arg: &mut [u8]) {
        let (g, u) = (&self.g, self.winograd.as_ref().expect("pooled rows are Winograd's"));
        let (height, width) = padded_size(g);
        assert!(rows.start.is_multiple_of(2) && rows.end.is_multiple_of(2), "Winograd rows {rows:?} split a 2x2 block");
        winograd::forward_band_pooled(image, height, width, g, u, self.f, bias, scratch, rows.start / 2..rows.end / 2, y, arg)
    }
    /// Whether [`Forward::rows_pooled`] runs: Winograd's 2x2 blocks pooled in place, outputs of even size.
    pub(super) fn pools(&self) -> bool {
        self.is_winograd() && winograd::pools() && self.g.oh.is_multiple_of(2) && self.g.ow.is_multiple_of(2)
    }
    pub(super) fn is_winograd(&self) -> bool {
        self.winograd.is_some()
    }
}

/// Images per parallel work item.
pub(super) fn images_per_chunk(g: &Window) -> usize {
    // About 8 items per batch, so threads share the work evenly, but at
    // least 64 output pixels each, so a kernel gradient tile's sum is long
    // enough to pay for loading and storing its block. Fixed by the shapes
    // alone (never the thread count), so results do not depend on the threads.
    g.n.div_ceil(8).max(64usize.div_ceil(g.out_pixels().max(1))).max(1)
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
}

/// The gradients of the convolution's inputs `[x, kernel, bias?]`, each
/// where required. `dy(images, out)` writes the output gradient of a block
/// of images (after relu and pooling, for fused ops), so each block's
/// gradient is made, used for the input, kernel and bias gradients, and
/// dropped while it is in cache: one parallel pass over fixed blocks of the
/// batch, whose partial sums are added in order.
pub(super) fn gradients(g: &Window, f: usize, input: &Input, inputs: &[Tensor], dy: impl Fn(Range<usize>, &mut [f32]) + Sync) -> HostGrads {
    let (x, kernel, bias) = (&inputs[0], &inputs[1], inputs.get(2));
    let (p, c, block, padded) = (g.out_pixels(), g.c, images_per_chunk(g), needs_padding(g));
    // Spreading gradients back runs the tiles across the input channels:
    // below 16 (one vector) most lanes would idle, so GEMM + col2im does it.
    let scatter = c >= 16;
    let kd = kernel.data();
    let kt = (x.requires_grad() && scatter).then(|| {
        let mut kt = buffer::take(kernel.numel());
        transpose_taps(&kd, c, f, &mut kt);
        Recycled(kt)
    });
    let xd = x.data();
    let images = input.images(&xd);
    let (want_dk, want_db) = (kernel.requires_grad(), bias.is_some_and(|b| b.requires_grad()));
    let work = |b: usize, dx: Option<&mut [f32]>| {
        let imgs = b * block..((b + 1) * block).min(g.n);
        let count = imgs.len();
        let mut d = buffer::take(count * p * f);
        dy(imgs.clone(), &mut d);
        if let Some(dx) = dx {
            let one = Window { n: count, ..*g };
            match &kt {
                Some(kt) => {
                    let mut dxp = if padded { buffer::take(count * input.len) } else { Vec::new() };
                    let grads: &mut [f32] = if padded { &mut dxp } else { dx };
                    grads.fill(0.0);
                    for (j, out) in grads.chunks_mut(input.len).enumerate() {
                        input_grad_image(&d[j * p * f..(j + 1) * p * f], kt, f, g, out);
                    }
                    if padded {
                        crop_images(&dxp, &one, dx);
                        buffer::give(dxp);
                    }
                }
                None => super::im2col::input_grad_block(&one, f, &kd, &d, dx),
            }
        }
        let dk = want_dk.then(|| {
            let mut part = buffer::zeros(kernel.numel());
            kernel_grad(&images[imgs.start * input.len..imgs.end * input.len], &d, f, g, &mut part);
            part
        });
        let db = want_db.then(|| sum_rows(&d, f));
        buffer::give(d);
        (dk, db)
    };
    let mut dx = x.requires_grad().then(|| buffer::take(x.numel()));
    let parts: Vec<Partials> = match dx.as_mut() {
        Some(dx) => dx.par_chunks_mut(block * g.image_len()).enumerate().map(|(b, dx)| work(b, Some(dx))).collect(),
        None => (0..g.n.div_ceil(block)).into_par_iter().map(|b| work(b, None)).collect(),
    };
    let (dks, dbs): (Vec<_>, Vec<_>) = parts.into_iter().unzip();
    let mut grads = vec![dx, want_dk.then(|| super::add_in_order(dks.into_iter().flatten(), kernel.numel()))];
    if bias.is_some() {
        grads.push(want_db.then(|| super::add_in_order(dbs.into_iter().flatten(), f)));
    }
    grads
}

/// One block's partial kernel and bias gradients.
pub(super) type Partials = (Option<Vec<f32>>, Option<Vec<f32>>);
