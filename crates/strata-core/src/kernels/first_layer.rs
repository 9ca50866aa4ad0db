//! A first layer's relu convolution + max pooling (over one or three
//! channels: kernel rows of `kw * c` values, below one vector), one image at
//! a time, with the filters across the vector lanes: the forward pass, and
//! the kernel and bias gradients.
//!
//! - Forward: for each pooling window, each cell's convolution output (the
//!   bias, then one multiply-add per kernel tap, an input value broadcast to
//!   all lanes, in the tiles' order: the same bits), relu, and the running
//!   maximum and its cell, all in registers. Register tiles over output
//!   pixels did this with nine-step sums, and wrote and read back the
//!   convolution's output for the pooling.
//! - Gradients: each cell of a window takes the window's gradient in the
//!   lanes whose maximum sits there (and passed relu), zero in the others,
//!   and multiplies the cell's input window, a tap at a time. That is the
//!   dense passes' multiply count (every convolution output a window reads,
//!   times the taps), but nothing is stored between the steps: the dense
//!   passes wrote each image's full-size output gradient and read it back
//!   once per kernel row. Where a window reads a 4x4 patch (a 3x3 kernel
//!   over one channel pooled 2x2), [`add_image_patch`] picks each filter's
//!   inputs at its maximum's cell instead: a quarter of the multiplies.
//!
//! With AVX-512, or AVX2 (`first_layer/avx2.rs`: the same sums in the same order).

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::tile::{isa, Isa};

/// Where one image's gradients come from, for `windows` pooling windows of
/// `cells` cells and `f` filters.
pub struct Maxima<'a> {
    /// The pooled outputs (`windows * f`, window-major).
    pub y: &'a [f32],
    /// Their gradients.
    pub dy: &'a [f32],
    /// The cell of each maximum in its window.
    pub arg: &'a [u8],
    /// The offset in the image of the input window under each cell: `at[w * cells + k]`.
    pub at: &'a [u32],
    /// Cells per pooling window.
    pub cells: usize,
    /// Filters.
    pub f: usize,
}

impl Maxima<'_> {
    fn windows(&self) -> usize {
        self.at.len() / self.cells.max(1)
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2;

/// Whether this CPU runs the vector kernels: AVX-512's, or the AVX2 ones
/// (`first_layer/avx2.rs`); elsewhere the convolution takes the dense passes.
pub fn available() -> bool {
    isa().is_some()
}

/// Adds one image's kernel gradient to `dk` (`taps.len() x m.f`, Keras's
/// `(kh, kw, c, f)`) and its bias gradient to `db` (`m.f`). `taps` holds
/// each kernel tap's offset from an input window's origin in `image`.
///
/// Panics if a read runs past `image` or the slices are shorter than the sizes say.
pub fn add_image(image: &[f32], taps: &[u32], m: &Maxima, dk: &mut [f32], db: &mut [f32]) {
    let (windows, f) = (m.windows(), m.f);
    assert!(m.y.len() >= windows * f && m.dy.len() >= windows * f && m.arg.len() >= windows * f, "first_layer: pooled rows shorter than {windows} windows of {f}");
    assert!(dk.len() >= taps.len() * f && db.len() >= f, "first_layer: gradients shorter than {} taps of {f}", taps.len());
    let reach = m.at.iter().max().map_or(0, |&a| a as usize) + taps.iter().max().map_or(0, |&t| t as usize);
    assert!(m.at.is_empty() || taps.is_empty() || reach < image.len(), "first_layer: a window reads past the {} values of the image", image.len());
    match isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the asserts bound every read and write; the CPU has AVX-512F.
        Some(Isa::Avx512) => unsafe { avx512::add_image(image, taps, m, dk, db) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above; the CPU has AVX2 and FMA (the tiles' other instruction set).
        Some(Isa::Avx2) => unsafe { avx2::add_image(image, taps, m, dk, db) },
        _ => reference(image, taps, m, dk, db),
    }
}

/// The width of `image`'s rows when every pooling window reads a 4x4 patch
/// of it, as a 3x3 kernel over one channel pooled 2x2 does: taps at `ky *
/// row + kx`, and each window's cells at `origin + cy * row + cx`. Then
/// [`add_image_patch`] gives [`add_image`]'s sums. None without AVX-512 or
/// AVX2 (whose permutes pick each filter's values), where it would not be faster.
pub fn patch_row(taps: &[u32], at: &[u32], cells: usize) -> Option<usize> {
    if !available() {
        return None;
    }
    let row = *taps.get(3)? as usize;
    let taps_fit = taps.len() == 9 && taps.iter().enumerate().all(|(t, &o)| o as usize == t / 3 * row + t % 3);
    let cells_fit = cells == 4 && at.chunks_exact(4).all(|o| (0..4).all(|k| o[k] as usize == o[0] as usize + k / 2 * row + k % 2));
    (taps_fit && cells_fit).then_some(row)
}

/// [`add_image`] for windows that read 4x4 patches with rows `row` apart
/// ([`patch_row`]; `m.at`'s first cell of each window is its patch's
/// origin): each patch in one vector, and each filter's value for a tap
/// picked from it at its maximum's cell by a permute, one multiply-add per
/// tap and filter where [`add_image`] does one per cell (four), zero in all
/// but one. The same sums in the same order (only zeros are not added).
///
/// Panics if a patch runs past `image` or the slices are shorter than the sizes say.
pub fn add_image_patch(image: &[f32], row: usize, m: &Maxima, dk: &mut [f32], db: &mut [f32]) {
    let (windows, f) = (m.windows(), m.f);
    assert!(m.cells == 4 && m.at.len() == 4 * windows, "first_layer: patches need 4 cells a window, got {}", m.cells);
    assert!(m.y.len() >= windows * f && m.dy.len() >= windows * f && m.arg.len() >= windows * f, "first_layer: pooled rows shorter than {windows} windows of {f}");
    assert!(dk.len() >= 9 * f && db.len() >= f, "first_layer: gradients shorter than 9 taps of {f}");
    let reach = m.at.iter().step_by(4).max().map(|&a| a as usize + 3 * row + 3);
    assert!(reach.is_none_or(|r| r < image.len()), "first_layer: a patch reads past the {} values of the image", image.len());
    // SAFETY (both): the asserts bound every read and write (a patch's last
    // value is its window's last cell's last tap); the CPU has the instructions.
    #[cfg(target_arch = "x86_64")]
    match isa() {
        Some(Isa::Avx512) => return unsafe { avx512::add_image_patch(image, row, m, dk, db) },
        Some(Isa::Avx2) => return unsafe { avx2::add_image_patch(image, row, m, dk, db) },
        None => {}
    }
    let taps: Vec<u32> = (0..9).map(|t| (t / 3 * row + t % 3) as u32).collect();
    add_image(image, &taps, m, dk, db);
}

/// [`add_image`] as plain loops.
pub fn reference(image: &[f32], taps: &[u32], m: &Maxima, dk: &mut [f32], db: &mut [f32]) {
    let f = m.f;
    for w in 0..m.windows() {
        for j in 0..f {
            let (y, dy, k) = (m.y[w * f + j], m.dy[w * f + j], m.arg[w * f + j] as usize);
            if y > 0.0 && k < m.cells {
                let at = m.at[w * m.cells + k] as usize;
                taps.iter().enumerate().for_each(|(t, &tap)| dk[t * f + j] += dy * image[at + tap as usize]);
                db[j] += dy;
            }
        }
    }
}

/// A convolution's weights: `kernel` (`taps.len() x f`, Keras's `(kh, kw,
/// c, f)`), an optional bias, and each tap's offset from an input window's
/// origin in the image.
pub struct Weights<'a> {
    /// The kernel.
    pub kernel: &'a [f32],
    /// The bias (`f`), if any.
    pub bias: Option<&'a [f32]>,
    /// Each tap's offset in the image.
    pub taps: &'a [u32],
    /// Filters.
    pub f: usize,
}

/// Writes `max_pool(relu(conv(image)))` of the pooling windows whose cells'
/// input windows start at `at` (`[w * cells + k]`) to `y` (`windows x f`),
/// and each maximum's cell to `arg`: the first cell holding the maximum.
///
/// Panics if a read runs past `image` or the slices are shorter than the sizes say.
pub fn forward(image: &[f32], weights: &Weights, at: &[u32], cells: usize, y: &mut [f32], arg: &mut [u8]) {
    let (f, taps) = (weights.f, weights.taps);
    let windows = at.len() / cells.max(1);
    assert!((1..=256).contains(&cells) && at.len() == windows * cells, "first_layer: {} window origins for {cells} cells", at.len());
    assert!(y.len() >= windows * f && arg.len() >= windows * f, "first_layer: outputs shorter than {windows} windows of {f}");
    assert!(weights.kernel.len() >= taps.len() * f && weights.bias.is_none_or(|b| b.len() >= f), "first_layer: kernel shorter than {} taps of {f}", taps.len());
    let reach = at.iter().max().map_or(0, |&a| a as usize) + taps.iter().max().map_or(0, |&t| t as usize);
    assert!(at.is_empty() || taps.is_empty() || reach < image.len(), "first_layer: a window reads past the {} values of the image", image.len());
    match isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the asserts bound every read and write; the CPU has AVX-512F.
        Some(Isa::Avx512) => unsafe { avx512::forward(image, weights, at, cells, y, arg) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above; the CPU has AVX2 and FMA (the tiles' other instruction set).
        Some(Isa::Avx2) => unsafe { avx2::forward(image, weights, at, cells, y, arg) },
        _ => forward_reference(image, weights, at, cells, y, arg),
    }
}

/// [`forward`] as plain loops (each product rounded, then added).
pub fn forward_reference(image: &[f32], weights: &Weights, at: &[u32], cells: usize, y: &mut [f32], arg: &mut [u8]) {
    let f = weights.f;
    for (w, origins) in at.chunks_exact(cells).enumerate() {
        for j in 0..f {
            let mut best = (f32::NAN, 0);
            for (k, &origin) in origins.iter().enumerate() {
                let mut z = weights.bias.map_or(0.0, |b| b[j]);
                for (t, &tap) in weights.taps.iter().enumerate() {
                    z += image[(origin + tap) as usize] * weights.kernel[t * f + j];
                }
                let z = if z > 0.0 { z } else { 0.0 };
                if k == 0 || z > best.0 {
                    best = (z, k);
                }
            }
            y[w * f + j] = best.0;
            arg[w * f + j] = best.1 as u8;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::*;
    use crate::kernels::pool_tiles::keep_larger;
    use crate::kernels::simd::lane_mask;

    /// Taps summed at once: 9 (a 3x3 kernel over one channel) times two
    /// vectors of filters is 18 of the 32 registers.
    const TAPS: usize = 9;

    /// The lanes of the 16 filters from `j0` that exist.
    fn lanes(f: usize, j0: usize) -> __mmask16 {
        lane_mask(f.saturating_sub(j0))
    }

    /// Cells summed at once: two vectors of filters each, 8 registers.
    const CELLS: usize = 4;

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn forward(image: &[f32], weights: &Weights, at: &[u32], cells: usize, y: &mut [f32], arg: &mut [u8]) {
        let f = weights.f;
        for j0 in (0..f).step_by(32) {
            let filters = Filters::new(weights, image, j0);
            let mut store = |w: usize, (best, cell): Pooled| {
                for i in 0..2 {
                    let o = w * f + j0 + 16 * i;
                    _mm512_mask_storeu_ps(y.as_mut_ptr().add(o), filters.mask[i], best[i]);
                    _mm512_mask_cvtepi32_storeu_epi8(arg.as_mut_ptr().add(o).cast(), filters.mask[i], cell[i]);
                }
            };
            let windows = at.len() / cells;
            let mut w = 0;
            if cells == CELLS {
                // Two windows' cells at once: 16 sums in flight, where the
                // four of one window (8 multiply-add chains, as many as two
                // pipes of latency 4 keep busy) left the pipes idle at each
                // step. The headline's first layer on a Zen 5, one image on
                // one core: 2.44 -> 1.97 us (three windows: 2.73, registers spill).
                while w + 2 <= windows {
                    let sums = filters.sums::<{ 2 * CELLS }>(std::array::from_fn(|k| at[w * CELLS + k]));
                    store(w, pool(&sums[..CELLS], 0));
                    store(w + 1, pool(&sums[CELLS..], 0));
                    w += 2;
                }
            }
            for w in w..windows {
                let origins = &at[w * cells..(w + 1) * cells];
                let mut pooled = ([_mm512_setzero_ps(); 2], [_mm512_setzero_si512(); 2]);
                for k0 in (0..cells).step_by(CELLS) {
                    // Four cells' sums side by side (a last group of fewer
                    // padded with copies of its first, so the loops unroll
                    // and the sums stay in registers).
                    let group = &origins[k0..(k0 + CELLS).min(cells)];
                    let sums = filters.sums::<CELLS>(std::array::from_fn(|k| group.get(k).copied().unwrap_or(group[0])));
                    pooled = keep_pooled(pooled, &sums[..group.len()], k0);
                }
                store(w, pooled);
            }
        }
    }

    /// A window's running maximum after relu, and its cell, over 32 filters.
    type Pooled = ([__m512; 2], [__m512i; 2]);

    /// The maximum after relu of the sums of cells `k0..`, and its cell.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn pool(sums: &[[__m512; 2]], k0: usize) -> Pooled {
        keep_pooled(([_mm512_setzero_ps(); 2], [_mm512_setzero_si512(); 2]), sums, k0)
    }

    /// `pooled` carried on over the sums of cells `k0..` (cell 0 starts it).
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn keep_pooled((mut best, mut cell): Pooled, sums: &[[__m512; 2]], k0: usize) -> Pooled {
        for (k, acc) in sums.iter().enumerate() {
            for i in 0..2 {
                let z = _mm512_max_ps(acc[i], _mm512_setzero_ps());
                if k0 + k == 0 {
                    best[i] = z;
                    continue;
                }
                (best[i], cell[i]) = keep_larger(best[i], cell[i], z, k0 + k);
            }
        }
        (best, cell)
    }

    /// 32 filters from `j0` of a first layer, over one image.
    struct Filters<'a> {
        weights: &'a Weights<'a>,
        x: *const f32,
        j0: usize,
        mask: [__mmask16; 2],
        bias: [__m512; 2],
    }

    impl<'a> Filters<'a> {
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn new(weights: &'a Weights<'a>, image: &[f32], j0: usize) -> Self {
            let mask = [lanes(weights.f, j0), lanes(weights.f, j0 + 16)];
            let bias = [0, 1].map(|i| weights.bias.map_or(_mm512_setzero_ps(), |b| _mm512_maskz_loadu_ps(mask[i], b.as_ptr().add(j0 + 16 * i))));
            Filters { weights, x: image.as_ptr(), j0, mask, bias }
        }

        /// The convolution's outputs (bias, then a multiply-add a tap, in
        /// the tiles' order) of the input windows at `origins`, side by side.
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn sums<const N: usize>(&self, origins: [u32; N]) -> [[__m512; 2]; N] {
            let (f, kernel) = (self.weights.f, self.weights.kernel.as_ptr());
            let mut acc = [self.bias; N];
            for (t, &tap) in self.weights.taps.iter().enumerate() {
                let k = [0, 1].map(|i| _mm512_maskz_loadu_ps(self.mask[i], kernel.add(t * f + self.j0 + 16 * i)));
                for (acc, &origin) in acc.iter_mut().zip(&origins) {
                    let v = _mm512_set1_ps(*self.x.add((origin + tap) as usize));
                    *acc = [_mm512_fmadd_ps(v, k[0], acc[0]), _mm512_fmadd_ps(v, k[1], acc[1])];
                }
            }
            acc
        }
    }

    /// One window's gradients in 16 lanes of filters from `j0` (`lanes`), where
    /// its maximum passed relu, those lanes, and the cells of the maxima.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn window(m: &Maxima, w: usize, j0: usize, lanes: __mmask16) -> (__m512, __mmask16, __m512i) {
        let o = w * m.f + j0;
        let y = _mm512_maskz_loadu_ps(lanes, m.y.as_ptr().add(o));
        let passed = _mm512_mask_cmp_ps_mask::<_CMP_GT_OQ>(lanes, y, _mm512_setzero_ps());
        let bytes = match lanes {
            0xffff => _mm_loadu_si128(m.arg.as_ptr().add(o).cast()),
            0 => _mm_setzero_si128(),
            _ => {
                let mut bytes = [0u8; 16];
                let n = m.f - j0;
                bytes[..n].copy_from_slice(&m.arg[o..][..n]);
                _mm_loadu_si128(bytes.as_ptr().cast())
            }
        };
        (_mm512_maskz_loadu_ps(passed, m.dy.as_ptr().add(o)), passed, _mm512_cvtepu8_epi32(bytes))
    }

    /// `p[..16] += v` in the lanes of `lanes`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn add_to(p: *mut f32, lanes: __mmask16, v: __m512) {
        _mm512_mask_storeu_ps(p, lanes, _mm512_add_ps(v, _mm512_maskz_loadu_ps(lanes, p)));
    }

    /// [`super::add_image`] and [`super::add_image_patch`], 32 filters at a
    /// time: the bias gradient, then `sum(j0, lanes, taps, acc)` sums the
    /// kernel gradient of taps `taps` (at most [`TAPS`]) into `acc`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn by_filters(m: &Maxima, taps: usize, dk: &mut [f32], db: &mut [f32], sum: impl Fn(usize, [__mmask16; 2], std::ops::Range<usize>, &mut [[__m512; 2]; TAPS])) {
        let f = m.f;
        for j0 in (0..f).step_by(32) {
            let lanes = [lanes(f, j0), lanes(f, j0 + 16)];
            let mut bias = [_mm512_setzero_ps(); 2];
            for w in 0..m.windows() {
                bias = [0, 1].map(|i| _mm512_add_ps(bias[i], window(m, w, j0 + 16 * i, lanes[i]).0));
            }
            (0..2).for_each(|i| add_to(db.as_mut_ptr().add(j0 + 16 * i), lanes[i], bias[i]));
            for t0 in (0..taps).step_by(TAPS) {
                let group = t0..(t0 + TAPS).min(taps);
                let mut acc = [[_mm512_setzero_ps(); 2]; TAPS];
                sum(j0, lanes, group.clone(), &mut acc);
                for (t, acc) in group.zip(&acc) {
                    (0..2).for_each(|i| add_to(dk.as_mut_ptr().add(t * f + j0 + 16 * i), lanes[i], acc[i]));
                }
            }
        }
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn add_image(image: &[f32], taps: &[u32], m: &Maxima, dk: &mut [f32], db: &mut [f32]) {
        let (cells, x) = (m.cells, image.as_ptr());
        by_filters(m, taps.len(), dk, db, |j0, lanes, group, acc| {
            // A whole group of taps (the last padded with copies of the
            // first, summed and dropped), so the loops over it unroll and
            // the sums stay in registers.
            let tap = &taps[group];
            let group: [u32; TAPS] = std::array::from_fn(|t| tap.get(t).copied().unwrap_or(tap[0]));
            for w in 0..m.windows() {
                let [(dy0, passed0, arg0), (dy1, passed1, arg1)] = [0, 1].map(|i| window(m, w, j0 + 16 * i, lanes[i]));
                for k in 0..cells {
                    let here = _mm512_set1_epi32(k as i32);
                    let g0 = _mm512_maskz_mov_ps(_mm512_mask_cmpeq_epi32_mask(passed0, arg0, here), dy0);
                    let g1 = _mm512_maskz_mov_ps(_mm512_mask_cmpeq_epi32_mask(passed1, arg1, here), dy1);
                    let base = x.add(*m.at.get_unchecked(w * cells + k) as usize);
                    for (acc, &t) in acc.iter_mut().zip(&group) {
                        let v = _mm512_set1_ps(*base.add(t as usize));
                        *acc = [_mm512_fmadd_ps(v, g0, acc[0]), _mm512_fmadd_ps(v, g1, acc[1])];
                    }
                }
            }
        });
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn add_image_patch(image: &[f32], row: usize, m: &Maxima, dk: &mut [f32], db: &mut [f32]) {
        let x = image.as_ptr();
        // Cell k's first value in the patch, (k / 2) * 4 + k % 2, by k.
        let cell_start = _mm512_setr_epi32(0, 1, 4, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
        by_filters(m, TAPS, dk, db, |j0, lanes, _, acc| {
            for w in 0..m.windows() {
                let origin = x.add(*m.at.get_unchecked(w * 4) as usize);
                let line = |r: usize| _mm_loadu_ps(origin.add(r * row));
                let patch = _mm512_insertf32x4::<3>(_mm512_insertf32x4::<2>(_mm512_insertf32x4::<1>(_mm512_castps128_ps512(line(0)), line(1)), line(2)), line(3));
                for (i, &lanes) in lanes.iter().enumerate() {
                    let (dy, _, cell) = window(m, w, j0 + 16 * i, lanes);
                    let start = _mm512_permutexvar_epi32(cell, cell_start);
                    for (t, acc) in acc.iter_mut().enumerate() {
                        let at = _mm512_add_epi32(start, _mm512_set1_epi32((t / 3 * 4 + t % 3) as i32));
                        acc[i] = _mm512_fmadd_ps(_mm512_permutexvar_ps(at, patch), dy, acc[i]);
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// An image of 400 values, `taps` tap offsets and `origins` window
    /// origins (the `i`-th from `spot(i)`), every read inside the image.
    fn layout(rng: &mut Rng, taps: usize, origins: usize, spot: impl Fn(usize) -> usize) -> (Vec<f32>, Vec<u32>, Vec<u32>) {
        let image = (0..400).map(|_| rng.normal()).collect();
        let tap_at = (0..taps).map(|t| (t * 3 % 50) as u32).collect();
        (image, tap_at, (0..origins).map(|i| (spot(i) * 7 % 340) as u32).collect())
    }

    /// The gradients `a` and `b` each add to the same random start (`taps * f`
    /// kernel values, then `f` bias values): the two results.
    fn both_sums(rng: &mut Rng, taps: usize, f: usize, a: impl FnOnce(&mut [f32], &mut [f32]), b: impl FnOnce(&mut [f32], &mut [f32])) -> (Vec<f32>, Vec<f32>) {
        let start: Vec<f32> = (0..taps * f + f).map(|_| rng.normal()).collect();
        let (mut got, mut want) = (start.clone(), start);
        let (gk, gb) = got.split_at_mut(taps * f);
        a(gk, gb);
        let (wk, wb) = want.split_at_mut(taps * f);
        b(wk, wb);
        (got, want)
    }

    fn same_bits(a: &[f32], b: &[f32]) -> bool {
        a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits())
    }

    /// A 3x3 kernel over one channel pooled 2x2 on rows of `row`: 3x3 pooling
    /// windows of an 8-row image, each reading a 4x4 patch, and `f` filters'
    /// maxima, filter `i`'s (window by window) in cell `cell(i)`.
    struct Patches {
        taps: Vec<u32>,
        at: Vec<u32>,
        image: Vec<f32>,
        y: Vec<f32>,
        dy: Vec<f32>,
        arg: Vec<u8>,
        f: usize,
    }

    impl Patches {
        fn new(rng: &mut Rng, row: usize, f: usize, mut cell: impl FnMut(&mut Rng, usize) -> u8) -> Patches {
            let taps = (0..9).map(|t| (t / 3 * row + t % 3) as u32).collect();
            let origins: Vec<usize> = (0..3).flat_map(|py| (0..3).map(move |px| 2 * py * row + 2 * px)).collect();
            let at = origins.iter().flat_map(|&o| (0..4).map(move |k| (o + k / 2 * row + k % 2) as u32)).collect();
            let image = (0..8 * row).map(|_| rng.normal()).collect();
            let n = origins.len() * f;
            let y = (0..n).map(|_| rng.normal()).collect();
            let dy = (0..n).map(|_| rng.normal()).collect();
            let arg = (0..n).map(|i| cell(rng, i)).collect();
            Patches { taps, at, image, y, dy, arg, f }
        }

        fn maxima(&self) -> Maxima<'_> {
            Maxima { y: &self.y, dy: &self.dy, arg: &self.arg, at: &self.at, cells: 4, f: self.f }
        }
    }

    #[test]
    fn matches_the_reference() {
        if !available() {
            eprintln!("skipped: neither AVX-512 nor AVX2 here, so add_image runs the reference itself");
            return;
        }
        let mut rng = Rng::new(5);
        // f = 32 (two whole vectors), 20 (a tail), 40 (a second group); taps 9, 27 (three groups), 25.
        for (f, taps, cells) in [(32, 9, 4), (20, 27, 4), (40, 25, 9), (7, 4, 1)] {
            let windows = 13;
            let (image, tap_at, at) = layout(&mut rng, taps, windows * cells, |i| i);
            let y: Vec<f32> = (0..windows * f).map(|_| rng.normal()).collect();
            let dy: Vec<f32> = (0..windows * f).map(|_| rng.normal()).collect();
            let arg: Vec<u8> = (0..windows * f).map(|i| (i * 5 % cells) as u8).collect();
            let m = Maxima { y: &y, dy: &dy, arg: &arg, at: &at, cells, f };
            let (got, want) = both_sums(&mut rng, taps, f, |dk, db| add_image(&image, &tap_at, &m, dk, db), |dk, db| reference(&image, &tap_at, &m, dk, db));
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!((g - w).abs() <= 1e-4 * (1.0 + w.abs()), "f {f}, taps {taps}: [{i}] {g} vs {w}");
            }
        }
    }

    #[test]
    fn patches_sum_as_the_cells_do() {
        if !available() {
            eprintln!("skipped: patches are summed with AVX-512 or AVX2 alone (patch_row finds none here)");
            return;
        }
        // A 3x3 kernel over one channel pooled 2x2 on rows of 28 (the
        // headline's first layer) and of 9, filters 32 and a tail of 20.
        let mut rng = Rng::new(9);
        for (row, f) in [(28, 32), (9, 20)] {
            let p = Patches::new(&mut rng, row, f, |rng, _| rng.below(4) as u8);
            assert_eq!(patch_row(&p.taps, &p.at, 4), Some(row));
            let m = p.maxima();
            let (got, want) = both_sums(&mut rng, 9, f, |dk, db| add_image_patch(&p.image, row, &m, dk, db), |dk, db| add_image(&p.image, &p.taps, &m, dk, db));
            assert!(same_bits(&got, &want), "row {row}, f {f}");
        }
        // Not patches: a 5-wide kernel row, and cells not side by side.
        let taps: Vec<u32> = (0..9).map(|t| (t / 3 * 28 + t % 3) as u32).collect();
        assert_eq!(patch_row(&taps, &[0, 1, 28, 30], 4), None);
        assert_eq!(patch_row(&taps[..6], &[0, 1, 28, 29], 4), None);
        assert_eq!(patch_row(&taps, &[0, 1, 28, 29], 4), Some(28));
    }

    #[test]
    #[should_panic(expected = "reads past")]
    fn a_patch_past_the_image_is_refused() {
        let m = Maxima { y: &[1.0], dy: &[1.0], arg: &[0], at: &[4, 5, 8, 9], cells: 4, f: 1 };
        add_image_patch(&[0.0; 16], 4, &m, &mut [0.0; 9], &mut [0.0]);
    }

    #[test]
    fn avx2_lanes_give_the_avx512_bits() {
        if isa() != Some(Isa::Avx512) {
            eprintln!("skipped: no AVX-512 here to compare the AVX2 kernels with");
            return;
        }
        let mut rng = Rng::new(7);
        for (f, taps, cells) in [(32, 9, 4), (20, 27, 9), (40, 25, 4), (7, 4, 1)] {
            let windows = 11;
            let (image, tap_at, at) = layout(&mut rng, taps, windows * cells, |i| i);
            let kernel: Vec<f32> = (0..taps * f).map(|_| rng.normal()).collect();
            let b: Vec<f32> = (0..f).map(|_| rng.normal()).collect();
            let weights = Weights { kernel: &kernel, bias: Some(&b), taps: &tap_at, f };
            let (mut y, mut arg) = (vec![0.0; windows * f], vec![0; windows * f]);
            let (mut y_lanes, mut arg_lanes) = (y.clone(), arg.clone());
            // SAFETY: the layout reads inside the image; the CPU has AVX-512F (and AVX2 and FMA).
            unsafe { avx512::forward(&image, &weights, &at, cells, &mut y, &mut arg) };
            unsafe { avx2::forward(&image, &weights, &at, cells, &mut y_lanes, &mut arg_lanes) };
            assert!(same_bits(&y, &y_lanes) && arg == arg_lanes, "forward: f {f}, taps {taps}, cells {cells}");
            let dy: Vec<f32> = (0..windows * f).map(|_| rng.normal()).collect();
            let m = Maxima { y: &y, dy: &dy, arg: &arg, at: &at, cells, f };
            // SAFETY: as above; AVX-512 CPUs have AVX2 and FMA.
            let (got, want) = both_sums(&mut rng, taps, f, |dk, db| unsafe { avx2::add_image(&image, &tap_at, &m, dk, db) }, |dk, db| unsafe { avx512::add_image(&image, &tap_at, &m, dk, db) });
            assert!(same_bits(&got, &want), "gradients: f {f}, taps {taps}, cells {cells}");
        }
        // By 4x4 patches (rows of 9; filters 32, a tail of 20, 40): every window's maximum in each of its cells.
        for f in [32, 20, 40] {
            let p = Patches::new(&mut rng, 9, f, |_, i| (i % 4) as u8);
            let m = p.maxima();
            // SAFETY: the patches lie inside the image; the CPU has AVX-512F, AVX2 and FMA.
            let (got, want) = both_sums(&mut rng, 9, f, |dk, db| unsafe { avx2::add_image_patch(&p.image, 9, &m, dk, db) }, |dk, db| unsafe { avx512::add_image_patch(&p.image, 9, &m, dk, db) });
            assert!(same_bits(&got, &want), "patches: f {f}");
        }
    }

    #[test]
    fn forward_matches_the_reference() {
        if !available() {
            eprintln!("skipped: neither AVX-512 nor AVX2 here, so forward runs the reference itself");
            return;
        }
        let mut rng = Rng::new(6);
        // f = 32, a tail of 20, a second group (40); 4 cells, 9 (two groups of four and one), 1.
        for (f, taps, cells, bias) in [(32, 9, 4, true), (20, 27, 9, false), (40, 25, 4, true), (7, 4, 1, true)] {
            let windows = 11;
            // Cells 2 and 3 of each window share an origin: equal maxima, the first cell's.
            let (image, tap_at, at) = layout(&mut rng, taps, windows * cells, |i| if i % cells == 3 { i - 1 } else { i });
            let kernel: Vec<f32> = (0..taps * f).map(|_| rng.normal()).collect();
            let b: Vec<f32> = (0..f).map(|_| rng.normal()).collect();
            let weights = Weights { kernel: &kernel, bias: bias.then_some(&b[..]), taps: &tap_at, f };
            let (mut y, mut arg) = (vec![f32::NAN; windows * f], vec![99; windows * f]);
            let (mut y_want, mut arg_want) = (y.clone(), arg.clone());
            forward(&image, &weights, &at, cells, &mut y, &mut arg);
            forward_reference(&image, &weights, &at, cells, &mut y_want, &mut arg_want);
            for (i, (g, w)) in y.iter().zip(&y_want).enumerate() {
                assert!((g - w).abs() <= 1e-4 * (1.0 + w.abs()), "f {f}, taps {taps}: [{i}] {g} vs {w}");
            }
            // Rounding may reorder near-equal maxima; the cells agree wherever the values are apart.
            let agree = arg.iter().zip(&arg_want).filter(|(a, b)| a == b).count();
            assert!(agree * 100 >= 98 * arg.len(), "f {f}, taps {taps}: {agree} of {} cells agree", arg.len());
        }
    }

    #[test]
    #[should_panic(expected = "reads past")]
    fn a_window_past_the_image_is_refused() {
        let m = Maxima { y: &[1.0], dy: &[1.0], arg: &[0], at: &[10], cells: 1, f: 1 };
        add_image(&[0.0; 12], &[0, 2], &m, &mut [0.0; 2], &mut [0.0]);
    }
}
