//! The first layer's kernels for CPUs with AVX2 but not AVX-512: the
//! AVX-512 kernels' sums, maxima and comparisons in their order, on
//! vectors of 8 (so the same bits). On the project's Zen 5 with
//! `STRATA_KERNELS=avx2`, the tiles and the dense passes took 0.20 ms
//! forward and 0.23 backward a headline CNN training step for this layer;
//! these kernels 0.089 and 0.055 (AVX-512's: 0.037 and 0.027).

use std::arch::x86_64::*;

use super::Maxima;
use super::Weights;
use crate::kernels::pool_tiles::{cells_as_bytes, keep_larger_avx2};
use crate::kernels::simd::lane_mask8;

/// Taps summed at once: a 3x3 kernel's row. With all 9 (as AVX-512 sums
/// them), the compiler loaded the 9 taps' inputs before the 9 sums and
/// spilled sums to the stack: 16 registers are too few.
const TAPS: usize = 3;

/// Cells summed at once, two vectors of filters each: 8 registers.
const CELLS: usize = 4;

/// The lanes of the 8 filters from `j0` that exist, as a load or store mask.
#[inline]
#[target_feature(enable = "avx2")]
fn lanes(f: usize, j0: usize) -> __m256i {
    lane_mask8(f.saturating_sub(j0))
}

#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn forward(image: &[f32], weights: &Weights, at: &[u32], cells: usize, y: &mut [f32], arg: &mut [u8]) {
    for j0 in (0..weights.f).step_by(16) {
        match weights.f - j0 >= 16 {
            true => forward_filters::<true>(image, weights, at, cells, j0, y, arg),
            false => forward_filters::<false>(image, weights, at, cells, j0, y, arg),
        }
    }
}

/// [`forward`] for the 16 filters from `j0`; `FULL`: all 16 exist, so the
/// kernel loads take no mask (a masked load a tap, its mask reloaded from
/// the stack each time: the headline's first layer forward took 0.114 ms
/// a training step on a Zen 5 with them, 0.089 without).
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn forward_filters<const FULL: bool>(image: &[f32], weights: &Weights, at: &[u32], cells: usize, j0: usize, y: &mut [f32], arg: &mut [u8]) {
    let (f, taps, x) = (weights.f, weights.taps, image.as_ptr());
    let zero = _mm256_setzero_ps();
    let mask = [lanes(f, j0), lanes(f, j0 + 8)];
    let load = |p: *const f32, i: usize| match FULL {
        true => _mm256_loadu_ps(p.add(j0 + 8 * i)),
        false => _mm256_maskload_ps(p.add(j0 + 8 * i), mask[i]),
    };
    let bias = [0, 1].map(|i| weights.bias.map_or(zero, |b| load(b.as_ptr(), i)));
    for (w, origins) in at.chunks_exact(cells).enumerate() {
        let (mut best, mut cell) = ([zero; 2], [_mm256_setzero_si256(); 2]);
        for k0 in (0..cells).step_by(CELLS) {
            // Four cells' sums side by side (a last group of fewer padded
            // with copies of its first, summed and dropped).
            let group = &origins[k0..(k0 + CELLS).min(cells)];
            let padded: [u32; CELLS] = std::array::from_fn(|k| group.get(k).copied().unwrap_or(group[0]));
            let mut acc = [bias; CELLS];
            for (t, &tap) in taps.iter().enumerate() {
                let kernel = [0, 1].map(|i| load(weights.kernel.as_ptr().add(t * f), i));
                for (acc, &origin) in acc.iter_mut().zip(&padded) {
                    let v = _mm256_set1_ps(*x.add((origin + tap) as usize));
                    *acc = [_mm256_fmadd_ps(v, kernel[0], acc[0]), _mm256_fmadd_ps(v, kernel[1], acc[1])];
                }
            }
            for (k, acc) in (k0..).zip(&acc[..group.len()]) {
                for i in 0..2 {
                    let z = _mm256_max_ps(acc[i], zero);
                    if k == 0 {
                        best[i] = z;
                        continue;
                    }
                    (best[i], cell[i]) = keep_larger_avx2(best[i], cell[i], z, k);
                }
            }
        }
        let o = w * f + j0;
        (0..2).for_each(|i| match FULL {
            true => _mm256_storeu_ps(y.as_mut_ptr().add(o + 8 * i), best[i]),
            false => _mm256_maskstore_ps(y.as_mut_ptr().add(o + 8 * i), mask[i], best[i]),
        });
        let n = (f - j0).min(16);
        let mut packed = [0u8; 16];
        _mm_storeu_si128(packed.as_mut_ptr().cast(), cells_as_bytes(cell));
        arg[o..o + n].copy_from_slice(&packed[..n]);
    }
}

/// Window `w`'s gradients for filters `j0..j0 + 8` where its maximum passed
/// relu (zero elsewhere, and past the filters), and the cells of the maxima.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn window(m: &Maxima, w: usize, j0: usize, mask: __m256i) -> (__m256, __m256i) {
    let (o, n) = (w * m.f + j0, (m.f - j0).min(8));
    let y = _mm256_maskload_ps(m.y.as_ptr().add(o), mask);
    let passed = _mm256_cmp_ps::<_CMP_GT_OQ>(y, _mm256_setzero_ps());
    let dy = _mm256_and_ps(passed, _mm256_maskload_ps(m.dy.as_ptr().add(o), mask));
    let cells = match n {
        8 => _mm_loadl_epi64(m.arg.as_ptr().add(o).cast()),
        _ => {
            let mut bytes = [0u8; 8];
            bytes[..n].copy_from_slice(&m.arg[o..o + n]);
            _mm_loadl_epi64(bytes.as_ptr().cast())
        }
    };
    (dy, _mm256_cvtepu8_epi32(cells))
}

/// [`super::add_image`] and [`super::add_image_patch`], 8 filters at a
/// time: the bias gradient, then `sum(j0, mask, taps, acc)` sums the kernel
/// gradient of taps `taps` (at most [`TAPS`]) into `acc`.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn by_filters(m: &Maxima, taps: usize, dk: &mut [f32], db: &mut [f32], sum: impl Fn(usize, __m256i, std::ops::Range<usize>, &mut [__m256; TAPS])) {
    let f = m.f;
    for j0 in (0..f).step_by(8) {
        let mask = lanes(f, j0);
        let add = |p: *mut f32, v: __m256| _mm256_maskstore_ps(p, mask, _mm256_add_ps(v, _mm256_maskload_ps(p, mask)));
        let mut bias = _mm256_setzero_ps();
        for w in 0..m.windows() {
            bias = _mm256_add_ps(bias, window(m, w, j0, mask).0);
        }
        add(db.as_mut_ptr().add(j0), bias);
        for t0 in (0..taps).step_by(TAPS) {
            let group = t0..(t0 + TAPS).min(taps);
            let mut acc = [_mm256_setzero_ps(); TAPS];
            sum(j0, mask, group.clone(), &mut acc);
            for (t, acc) in group.zip(&acc) {
                add(dk.as_mut_ptr().add(t * f + j0), *acc);
            }
        }
    }
}

#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn add_image(image: &[f32], taps: &[u32], m: &Maxima, dk: &mut [f32], db: &mut [f32]) {
    let (cells, x) = (m.cells, image.as_ptr());
    by_filters(m, taps.len(), dk, db, |j0, mask, group, acc| {
        // A whole group of taps (the last padded with copies of the first, summed and dropped).
        let tap = &taps[group];
        let group: [u32; TAPS] = std::array::from_fn(|t| tap.get(t).copied().unwrap_or(tap[0]));
        let one = _mm256_set1_epi32(1);
        for w in 0..m.windows() {
            let (dy, mut cell) = window(m, w, j0, mask);
            for k in 0..cells {
                // Lanes whose maximum sits in cell k: the cell, less k, is 0 (counted
                // down a cell at a time: a constant a cell spilled the sums on 16 registers).
                let here = _mm256_castsi256_ps(_mm256_cmpeq_epi32(cell, _mm256_setzero_si256()));
                cell = _mm256_sub_epi32(cell, one);
                let g = _mm256_and_ps(here, dy);
                let base = x.add(*m.at.get_unchecked(w * cells + k) as usize);
                for (acc, &t) in acc.iter_mut().zip(&group) {
                    *acc = _mm256_fmadd_ps(_mm256_set1_ps(*base.add(t as usize)), g, *acc);
                }
            }
        }
    });
}

/// [`super::add_image_patch`] on AVX2: for the taps of one kernel row, the
/// two patch rows they read (8 values) in one vector, each filter's value
/// for a tap picked from it at its maximum's cell by `vpermps`; one
/// multiply-add per window, tap and filter where [`add_image`] does four.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn add_image_patch(image: &[f32], row: usize, m: &Maxima, dk: &mut [f32], db: &mut [f32]) {
    let x = image.as_ptr();
    // Cell k's first value in two patch rows, (k / 2) * 4 + k % 2, by k.
    let cell_start = _mm256_setr_epi32(0, 1, 4, 5, 0, 0, 0, 0);
    const { assert!(TAPS == 3, "a group of taps is one row of the 3x3 kernel") };
    by_filters(m, 9, dk, db, |j0, mask, group, acc| {
        let ky = group.start / TAPS;
        for w in 0..m.windows() {
            let (dy, cell) = window(m, w, j0, mask);
            let start = _mm256_permutevar8x32_epi32(cell_start, cell);
            let origin = x.add(*m.at.get_unchecked(w * 4) as usize + ky * row);
            let rows = _mm256_insertf128_ps::<1>(_mm256_castps128_ps256(_mm_loadu_ps(origin)), _mm_loadu_ps(origin.add(row)));
            for (kx, acc) in acc.iter_mut().enumerate() {
                let at = _mm256_add_epi32(start, _mm256_set1_epi32(kx as i32));
                *acc = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(rows, at), dy, *acc);
            }
        }
    });
}
