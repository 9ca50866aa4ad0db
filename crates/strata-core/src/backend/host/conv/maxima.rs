//! The gradients of the fused relu convolution + max pooling op
//! ([`super::pooled`]) through each window's maximum alone.
//!
//! Behind max pooling, the convolution's output gradient is zero except at
//! each window's maximum: one position per window and filter, and none where
//! relu cut the maximum to 0. With 2x2 windows that is a quarter of the
//! outputs at most. The dense passes ([`super::direct::gradients`]) multiply
//! the zeros too; these sum only the rows the maxima reach, with
//! [`gather_add`]:
//!
//! - the kernel gradient of filter `j` is the sum, over its maxima, of the
//!   input window under the maximum times its gradient;
//! - the input gradient under a convolution output is the sum, over the
//!   filters whose maximum it holds, of their kernel rows times the gradient.
//!   A 3x3, stride-1 convolution pooled 2x2 sums it a pooling window at a
//!   time instead, the window's 4x4 input region in registers
//!   ([`region::add_window`]).

use rayon::prelude::*;

use crate::autodiff::HostGrads;
use crate::buffer::{self, Aligned};
use crate::kernels::direct::{crop_images, needs_padding, padded_size};
use crate::kernels::gather::{gather_add, list_window, ByCell, ByFilter, Rows, Term, MAX_LEN, MAX_ROWS};
use crate::kernels::matmul::{transpose, transpose_sum};
use crate::kernels::region;
use crate::kernels::window::Window;
use crate::profile;
use crate::tensor::Tensor;

use super::direct::{images_per_chunk, Input, Partials};

/// Whether summing the maxima's rows beats the dense passes for convolution
/// window `g`: a kernel row (`kw * c` inputs) must fill a vector, else the
/// rows are too short to pay for gathering them (a first layer's `c = 1`).
/// Offsets are kept in 32 bits, so a (padded) image or the kernel must have
/// fewer than 2^32 values; larger ones take the dense passes.
pub(super) fn suits(g: &Window, f: usize) -> bool {
    g.kw * g.c >= 16 && offsets_fit(g, f)
}

/// Whether offsets in a (padded) image and in the kernel fit in 32 bits.
pub(super) fn offsets_fit(g: &Window, f: usize) -> bool {
    let (ph, pw) = padded_size(g);
    let fits = |len: Option<usize>| len.is_some_and(|len| len <= u32::MAX as usize);
    fits(ph.checked_mul(pw).and_then(|p| p.checked_mul(g.c))) && fits((g.kh * g.kw * g.c).checked_mul(f))
}

/// Whether the input gradient is summed a pooling window at a time
/// ([`region::add_window`]): a 3x3, stride-1 convolution pooled 2x2, with
/// windows enough that a slice of the kernel is read for several. With one
/// window an image (the headline's third convolution) the whole kernel is
/// read per image either way, and the 16-channel slices make twice as many
/// short sums as the rows: 0.077 against 0.069 ms on a Zen 5.
fn by_region(g: &Window, pool: &Window) -> bool {
    (g.kh, g.kw, g.sh, g.sw, pool.kh, pool.kw) == (3, 3, 1, 1, 2, 2) && pool.out_pixels() >= 4 && region::available()
}

/// The offset in a (padded) image of the input window under each output
/// that `pool`'s windows read, by window and cell: `[w * cells + k]`.
pub(super) fn window_origins(g: &Window, pool: &Window) -> Vec<u32> {
    let (_, pw) = padded_size(g);
    let cells = pool.kh * pool.kw;
    let mut origins = Vec::with_capacity(pool.out_pixels() * cells);
    for (py, px) in (0..pool.oh).flat_map(|py| (0..pool.ow).map(move |px| (py, px))) {
        let at = |k: usize| ((py * pool.kh + k / pool.kw) * g.sh * pw + (px * pool.kw + k % pool.kw) * g.sw) * g.c;
        origins.extend((0..cells).map(|k| at(k) as u32));
    }
    origins
}

/// The gradients of `[x, kernel, bias?]`, each where required, given the op's
/// pooled outputs `y`, their gradients `dy` and the maxima's positions `arg`.
/// `g` is the convolution over the outputs the windows read, `pool` the
/// pooling of one image of them. Blocks of images as the dense passes take
/// them, their partial sums added in order: the same bits for any thread count.
#[allow(clippy::too_many_arguments)]
pub(super) fn gradients(g: &Window, pool: &Window, input: &Input, inputs: &[Tensor], y: &[f32], dy: &[f32], arg: &[u8]) -> HostGrads {
    let (x, kernel, bias) = (&inputs[0], &inputs[1], inputs.get(2));
    let (f, taps, block) = (pool.c, g.kh * g.kw * g.c, images_per_chunk(g));
    let q = pool.out_pixels() * f;
    let kd = kernel.data();
    // The gathers read whole vectors from the rows of `kt` and of each image:
    // both are copied to cache-line-aligned buffers (buffer::Aligned).
    // By region, the kernel in slices of 16 channels instead (region::slice_kernel).
    let by_region = by_region(g, pool);
    let kt = x.requires_grad().then(|| {
        if by_region {
            let mut ks = Aligned::take(region::sliced_len(g.c, f));
            region::slice_kernel(&kd, g.c, f, &mut ks);
            return ks;
        }
        let mut kt = Aligned::take(taps * f);
        transpose(&kd, taps, f, &mut kt);
        kt
    });
    let xd = x.data();
    let (want_dk, want_db) = (kernel.requires_grad(), bias.is_some_and(|b| b.requires_grad()));
    // Images whose kernel gradients are summed in one pass: as many as fit
    // in about 128 KiB (well inside a second-level cache), so each filter's
    // terms make a long list and its kernel gradient row is read and written
    // once per group, not per image (a 3x3 output pooled to 1x1 has one term
    // a filter an image; the headline's 11x11 output, pooled, 25: on a Zen 5
    // its second convolution's backward went from 0.19 to 0.175 ms at four
    // images a group against one).
    let (ph, pw) = padded_size(g);
    let image_len = ph * pw * g.c;
    let group = (32768 / image_len).clamp(1, block).min(u32::MAX as usize / image_len);
    let work = |b: usize, dx: Option<&mut [f32]>| {
        let images = b * block..((b + 1) * block).min(g.n);
        let mut maxima = Maxima::new(g, pool, group, by_region);
        let mut dkt = want_dk.then(|| buffer::zeros(taps * f));
        let mut db = want_db.then(|| buffer::zeros(f));
        let mut dx_images = dx.map(|dx| dx.chunks_mut(g.image_len()));
        let mut copies = want_dk.then(|| Aligned::take(group * image_len));
        let mut live = 0;
        for first in images.clone().step_by(group) {
            maxima.clear_filters();
            for (k, i) in (first..(first + group).min(images.end)).enumerate() {
                let o = i * q..(i + 1) * q;
                live += maxima.find(&y[o.clone()], &dy[o.clone()], &arg[o], (k * image_len) as u32);
                if let Some(copies) = copies.as_mut() {
                    copies[k * image_len..(k + 1) * image_len].copy_from_slice(input.image(&xd, i));
                }
                if let (Some(dx), Some(kt)) = (dx_images.as_mut().and_then(|d| d.next()), kt.as_deref()) {
                    match by_region {
                        true => maxima.input_grad_by_region(g, kt, dx),
                        false => maxima.input_grad(g, kt, dx),
                    }
                }
            }
            if let (Some(dkt), Some(copies)) = (dkt.as_mut(), copies.as_ref()) {
                maxima.kernel_grad(g, copies, dkt);
            }
            if let Some(db) = db.as_mut() {
                maxima.bias_grad(db);
            }
        }
        ((dkt, db), live)
    };
    let mut dx = x.requires_grad().then(|| buffer::take(x.numel()));
    let parts: Vec<(Partials, usize)> = match dx.as_mut() {
        Some(dx) => dx.par_chunks_mut(block * g.image_len()).enumerate().map(|(b, dx)| work(b, Some(dx))).collect(),
        None => (0..g.n.div_ceil(block)).into_par_iter().map(|b| work(b, None)).collect(),
    };
    drop(kt);
    // What the dense passes would multiply: every output a window reads, in each product asked for.
    let live: usize = parts.iter().map(|p| p.1).sum();
    let products = (want_dk as usize + x.requires_grad() as usize) as u64;
    profile::add_skipped_flops(2 * products * ((g.n * pool.out_pixels() * pool.kh * pool.kw * f - live) * taps) as u64);
    let (dkts, dbs): (Vec<_>, Vec<_>) = parts.into_iter().map(|(partials, _)| partials).unzip();
    let dk = want_dk.then(|| {
        let dkts: Vec<Vec<f32>> = dkts.into_iter().flatten().collect();
        let dk = match dkts.is_empty() {
            true => buffer::zeros(taps * f),
            false => {
                let mut dk = buffer::take(taps * f);
                transpose_sum(&dkts.iter().map(|p| &p[..]).collect::<Vec<_>>(), f, taps, &mut dk);
                dk
            }
        };
        dkts.into_iter().for_each(buffer::give);
        dk
    });
    let mut grads = vec![dx, dk];
    if bias.is_some() {
        grads.push(want_db.then(|| super::add_in_order(dbs.into_iter().flatten(), f)));
    }
    grads
}

/// The maxima that pass a gradient, listed twice: by filter, over a group
/// of images (each with its input window's offset in the group's images),
/// and by the convolution output of one image that holds them (each with
/// its filter's row of the transposed kernel).
struct Maxima {
    /// Filter `j`'s terms: `by_filter[j * windows * images..][..filter_counts[j]]`.
    by_filter: Vec<Term>,
    filter_counts: Vec<u32>,
    /// The sum of each filter's terms' gradients (its list's, in order).
    bias: Vec<f32>,
    /// The terms of the image's output under position `k` of pooling window
    /// `w`, `o = w * cells + k`: `by_output[o * f..][..output_counts[o]]`.
    by_output: Vec<Term>,
    output_counts: Vec<usize>,
    /// The offset in a (padded) image of each output's window, by `o`.
    output_at: Vec<u32>,
    /// One window's, in the group's images (scratch for [`Self::find`]).
    origins: Vec<u32>,
    /// Pooling windows of one image, images in a group, cells of a window,
    /// filters, and values in one row of the transposed kernel.
    windows: usize,
    images: usize,
    cells: usize,
    f: usize,
    taps: usize,
    /// Distance between two filters' rows in the kernel the output lists
    /// point into: `taps`, or [`region::FILTER_STEP`] in a slice.
    step: usize,
}

impl Maxima {
    /// Empty lists for convolution window `g` pooled by `pool`, for groups
    /// of up to `images` images; `by_region`: the output lists point into a
    /// slice of the kernel ([`region::slice_kernel`]).
    fn new(g: &Window, pool: &Window, images: usize, by_region: bool) -> Maxima {
        let (f, cells, windows) = (pool.c, pool.kh * pool.kw, pool.out_pixels());
        let taps = g.kh * g.kw * g.c;
        // Offsets are kept as u32 (terms of 8 bytes).
        assert!(offsets_fit(g, f), "max-pooled convolution: images too large for 32-bit offsets (`suits` sends them to the dense passes)");
        Maxima {
            by_filter: spare_terms(f * windows * images),
            filter_counts: vec![0; f],
            bias: vec![0.0; f],
            by_output: spare_terms(windows * cells * f),
            output_counts: vec![0; windows * cells],
            output_at: window_origins(g, pool),
            origins: vec![0; cells],
            windows,
            images,
            cells,
            f,
            taps,
            step: if by_region { region::FILTER_STEP } else { taps },
        }
    }

    /// Empties the filter lists, for the next group of images.
    fn clear_filters(&mut self) {
        self.filter_counts.fill(0);
        self.bias.fill(0.0);
    }

    /// Lists the maxima of one image: `y`, `dy` and `arg` its pooled outputs,
    /// their gradients and the maxima's positions in their windows, the image
    /// at offset `image_at` in its group's (for the filter lists, which run
    /// over the group; the output lists are this image's). Returns how many
    /// pass a gradient.
    fn find(&mut self, y: &[f32], dy: &[f32], arg: &[u8], image_at: u32) -> usize {
        // (Each window's output counts are set by list_window, which starts them at 0.)
        let (f, cells, capacity) = (self.f, self.cells, self.windows * self.images);
        let before: usize = self.filter_counts.iter().map(|&n| n as usize).sum();
        for w in 0..self.windows {
            let cell = w * f..(w + 1) * f;
            let (y, dy, arg) = (&y[cell.clone()], &dy[cell.clone()], &arg[cell]);
            self.origins.iter_mut().zip(&self.output_at[w * cells..]).for_each(|(o, &at)| *o = image_at + at);
            // The bias sums add 0 for each term that does not pass: the
            // same as over the lists, side by side.
            let by_filter = ByFilter { origins: &self.origins, capacity, terms: &mut self.by_filter, counts: &mut self.filter_counts, bias: &mut self.bias };
            let outputs = w * cells..(w + 1) * cells;
            let by_cell = ByCell { step: self.step as u32, terms: &mut self.by_output[outputs.start * f..outputs.end * f], counts: &mut self.output_counts[outputs] };
            list_window(y, dy, arg, by_filter, by_cell);
        }
        self.filter_counts.iter().map(|&n| n as usize).sum::<usize>() - before
    }

    /// Filter `j`'s terms.
    fn filter(&self, j: usize) -> &[Term] {
        &self.by_filter[j * self.windows * self.images..][..self.filter_counts[j] as usize]
    }

    /// Adds the group's kernel gradient to `dkt`, the kernel as `(f, kh, kw,
    /// c)`, given the group's images one after the other.
    fn kernel_grad(&self, g: &Window, images: &[f32], dkt: &mut [f32]) {
        let (row, (_, pw)) = (g.kw * g.c, padded_size(g));
        let pieces = Pieces::new(row);
        for j in 0..self.f {
            let terms = self.filter(j);
            for ky in (0..g.kh).step_by(MAX_ROWS) {
                let rows = Rows { count: (g.kh - ky).min(MAX_ROWS), src_step: pw * g.c, dst_step: row };
                for (c0, len) in pieces.iter() {
                    gather_add(terms, &images[ky * pw * g.c + c0..], &mut dkt[j * self.taps + ky * row + c0..], len, rows);
                }
            }
        }
    }

    /// Adds the group's bias gradient to `db`.
    fn bias_grad(&self, db: &mut [f32]) {
        db.iter_mut().zip(&self.bias).for_each(|(db, &sum)| *db += sum);
    }

    /// Writes the image's input gradient to `dx`, given the transposed kernel `kt` (`(f, kh, kw, c)`).
    fn input_grad(&self, g: &Window, kt: &[f32], dx: &mut [f32]) {
        let (row, (_, pw)) = (g.kw * g.c, padded_size(g));
        let pieces = Pieces::new(row);
        with_padding(g, dx, |out| {
            // Up to three kernel rows a call (on a Zen 5, 0.29 ms a step for the
            // headline CNN's second convolution against 0.31 row by row).
            for ky in (0..g.kh).step_by(MAX_ROWS) {
                let rows = Rows { count: (g.kh - ky).min(MAX_ROWS), src_step: row, dst_step: pw * g.c };
                for (o, (&count, &at)) in self.output_counts.iter().zip(&self.output_at).enumerate().filter(|(_, (&count, _))| count > 0) {
                    let terms = &self.by_output[o * self.f..][..count];
                    for (c0, len) in pieces.iter() {
                        gather_add(terms, &kt[ky * row + c0..], &mut out[at as usize + ky * pw * g.c + c0..], len, rows);
                    }
                }
            }
        });
    }

    /// [`Self::input_grad`] a pooling window at a time, given the kernel
    /// in slices (`ks`, [`region::slice_kernel`]): every window over one
    /// slice, then the next, so the slice stays in cache.
    fn input_grad_by_region(&self, g: &Window, ks: &[f32], dx: &mut [f32]) {
        let (_, pw) = padded_size(g);
        with_padding(g, dx, |out| {
            for (s, slice) in ks.chunks_exact(self.f * region::FILTER_STEP).enumerate() {
                let lanes = (g.c - 16 * s).min(16);
                for w in 0..self.windows {
                    let o = w * self.cells;
                    let counts = &self.output_counts[o..o + self.cells];
                    if counts.iter().all(|&n| n == 0) {
                        continue;
                    }
                    let cells: [&[Term]; 4] = std::array::from_fn(|k| &self.by_output[(o + k) * self.f..][..counts[k]]);
                    region::add_window(cells, slice, &mut out[self.output_at[o] as usize + 16 * s..], pw * g.c, g.c, lanes);
                }
            }
        });
    }
}

impl Drop for Maxima {
    fn drop(&mut self) {
        SPARE_TERMS.with_borrow_mut(|spare| {
            for terms in [&mut self.by_filter, &mut self.by_output] {
                if spare.len() < 4 {
                    spare.push(std::mem::take(terms));
                }
            }
        });
    }
}

thread_local! {
    /// Term lists left by this thread's last [`Maxima`], for its next: a
    /// list's terms are written before they are read (up to its count), so
    /// they need no clearing, where fresh zeroed lists were 0.8 MB of
    /// `memset` a headline CNN training step.
    static SPARE_TERMS: std::cell::RefCell<Vec<Vec<Term>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `len` terms, their values unspecified.
fn spare_terms(len: usize) -> Vec<Term> {
    let mut terms = SPARE_TERMS.with_borrow_mut(|spare| spare.pop()).unwrap_or_default();
    terms.resize(len, Term { value: 0.0, at: 0 });
    terms
}

/// Runs `write` on the image's input gradient `dx` zeroed, padded when `g`
/// pads (the border then cropped off).
fn with_padding(g: &Window, dx: &mut [f32], write: impl FnOnce(&mut [f32])) {
    if !needs_padding(g) {
        dx.fill(0.0);
        return write(dx);
    }
    let (ph, pw) = padded_size(g);
    let mut padded = buffer::zeros(ph * pw * g.c);
    write(&mut padded);
    crop_images(&padded, &Window { n: 1, ..*g }, dx);
    buffer::give(padded);
}

/// A row of `len` values split into even pieces of at most [`MAX_LEN`]
/// (whole vectors of 16 but for the last), worked out once per row length.
struct Pieces {
    len: usize,
    size: usize,
    count: usize,
}

impl Pieces {
    fn new(len: usize) -> Pieces {
        let count = len.div_ceil(MAX_LEN).max(1);
        let size = (len.div_ceil(count).div_ceil(16) * 16).max(1);
        Pieces { len, size, count: len.div_ceil(size) }
    }

    /// `(start, len)` of each piece.
    fn iter(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.count).map(|i| (i * self.size, self.size.min(self.len - i * self.size)))
    }
}

