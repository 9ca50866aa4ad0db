//! The input gradient under one 2x2 max-pooling window of a 3x3, stride-1
//! convolution, summed in registers: the window's four convolution outputs
//! read a 4x4 region of the input, and each filter whose maximum sits in
//! one of them adds its gradient times the filter's 3x3 kernel there.
//!
//! The region's 16 pixels, 16 channels at a time, are 16 vector sums: every
//! term of every cell adds into them, and the input gradient is read and
//! written once a window. The kernel is read in slices of 16 channels
//! ([`slice_kernel`]): one slice of a 64-filter kernel (37 KiB) stays in the
//! first-level cache while the caller runs every window of an image over it,
//! where whole kernel rows (74 KiB for 32 channels) came from the second.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::gather::Term;
use super::tile::{isa, Isa};

/// Kernel taps (3x3).
pub const TAPS: usize = 9;

/// Values of one filter in a slice: its taps, 16 channels each.
pub const FILTER_STEP: usize = TAPS * 16;

/// The region's side: 2 outputs + 3 taps - 1.
const SIDE: usize = 4;

/// Whether this CPU runs [`add_window`]'s vector kernel (the caller takes
/// another path where it does not).
pub fn available() -> bool {
    isa() == Some(Isa::Avx512)
}

/// How many values [`slice_kernel`] writes for `c` channels and `f` filters.
pub fn sliced_len(c: usize, f: usize) -> usize {
    c.div_ceil(16) * f * FILTER_STEP
}

/// Rewrites a Keras kernel `(3, 3, c, f)` as slices of 16 channels: value
/// `[s][j][tap][lane]` is channel `16 * s + lane` of filter `j` at `tap`
/// (zero past `c`). Filter `j` of a slice starts at `j * FILTER_STEP`. The
/// slices are made side by side on the threads, 16 channels of 16 filters
/// a step transposed in registers where the CPU has AVX-512. For the
/// headline CNN's second convolution on a Zen 5, what comes before its
/// backward pass's parallel sums went from 12.6 us (a transpose of the whole
/// kernel, then a copy into slices, one thread waiting) to 2-7.
///
/// Panics if `kernel` is not `9 * c * f` values or `out` is not [`sliced_len`].
pub fn slice_kernel(kernel: &[f32], c: usize, f: usize, out: &mut [f32]) {
    use rayon::prelude::*;
    assert!(kernel.len() == TAPS * c * f && out.len() == sliced_len(c, f), "slice_kernel: {} values for a 3x3x{c}x{f} kernel", kernel.len());
    if f == 0 {
        return;
    }
    out.par_chunks_mut(f * FILTER_STEP).enumerate().for_each(|(s, slice)| {
        let lanes = (c - 16 * s).min(16);
        for tap in 0..TAPS {
            // Channel 16 * s + lane of every filter at `tap`: a row of `f` values per lane.
            let rows = &kernel[(tap * c + 16 * s) * f..];
            let mut j0 = 0;
            #[cfg(target_arch = "x86_64")]
            if lanes == 16 && available() {
                while j0 + 16 <= f {
                    // SAFETY: 16 rows of 16 from column j0 of `rows` (16 channels of
                    // f filters) and 16 filters' taps of 16 lanes in `slice` (f
                    // filters of FILTER_STEP): inside both (asserted above); AVX-512F.
                    unsafe { crate::kernels::matmul::avx512::block(rows[j0..].as_ptr(), f, slice[j0 * FILTER_STEP + tap * 16..].as_mut_ptr(), FILTER_STEP) };
                    j0 += 16;
                }
            }
            for j in j0..f {
                let out = &mut slice[j * FILTER_STEP + tap * 16..][..16];
                out.iter_mut().enumerate().for_each(|(lane, v)| *v = if lane < lanes { rows[lane * f + j] } else { 0.0 });
            }
        }
    });
}

/// Adds one pooling window's input gradient to `dst`, 16 channels of it
/// (`lanes` of them, the rest untouched): `cells[k]` are the terms of the
/// window's output `(k / 2, k % 2)`, each a gradient and where its filter
/// starts in `slice` (one slice of [`slice_kernel`]'s). Region pixel `(r,
/// x)` is at `dst[r * row_step + x * c..][..lanes]`. Sums are over cells,
/// then terms, in order.
///
/// Panics if the region runs past `dst`, `slice` holds no filter, or
/// `lanes` exceeds 16 or `c`. A term whose filter would run past `slice`
/// reads the last filter instead (the callers' never do).
pub fn add_window(cells: [&[Term]; 4], slice: &[f32], dst: &mut [f32], row_step: usize, c: usize, lanes: usize) {
    assert!(lanes <= 16 && lanes <= c, "add_window: {lanes} lanes of {c} channels");
    let reach = (SIDE - 1).checked_mul(row_step).and_then(|r| r.checked_add((SIDE - 1) * c + lanes));
    assert!(reach.is_some_and(|end| end <= dst.len()), "add_window: the region runs past the {} values of dst", dst.len());
    assert!(slice.len() >= FILTER_STEP, "add_window: a slice of {} values holds no filter", slice.len());
    #[cfg(target_arch = "x86_64")]
    if available() {
        // SAFETY: the asserts bound every read and write; the CPU has AVX-512F.
        return unsafe { avx512::add_window(cells, slice.as_ptr(), slice.len() - FILTER_STEP, dst.as_mut_ptr(), row_step, c, lanes) };
    }
    reference(cells, slice, dst, row_step, c, lanes);
}

/// [`add_window`] as plain loops (each product rounded, then added).
pub fn reference(cells: [&[Term]; 4], slice: &[f32], dst: &mut [f32], row_step: usize, c: usize, lanes: usize) {
    let mut acc = [[0.0f32; 16]; SIDE * SIDE];
    for (k, terms) in cells.iter().enumerate() {
        for t in terms.iter() {
            let filter = &slice[(t.at as usize).min(slice.len() - FILTER_STEP)..][..FILTER_STEP];
            for (tap, kernel) in filter.chunks_exact(16).enumerate() {
                let pixel = &mut acc[(k / 2 + tap / 3) * SIDE + k % 2 + tap % 3];
                pixel.iter_mut().zip(kernel).for_each(|(a, &w)| *a += t.value * w);
            }
        }
    }
    for (p, acc) in acc.iter().enumerate() {
        let out = &mut dst[(p / SIDE) * row_step + (p % SIDE) * c..][..lanes];
        out.iter_mut().zip(acc).for_each(|(d, a)| *d += a);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::*;
    use crate::kernels::simd::lane_mask;

    /// The 16 sums of a region, one vector a pixel.
    type Sums = [__m512; SIDE * SIDE];

    /// `slice`'s last filter at `last`; the region in `dst` (checked by the caller).
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn add_window(cells: [&[Term]; 4], slice: *const f32, last: usize, dst: *mut f32, row_step: usize, c: usize, lanes: usize) {
        let mut acc: Sums = [_mm512_setzero_ps(); SIDE * SIDE];
        // One call a cell, its place in the region a constant: the sums stay in registers.
        add_cell::<0, 0>(&mut acc, cells[0], slice, last);
        add_cell::<0, 1>(&mut acc, cells[1], slice, last);
        add_cell::<1, 0>(&mut acc, cells[2], slice, last);
        add_cell::<1, 1>(&mut acc, cells[3], slice, last);
        let mask = lane_mask(lanes);
        for (p, acc) in acc.iter().enumerate() {
            let out = dst.add((p / SIDE) * row_step + (p % SIDE) * c);
            _mm512_mask_storeu_ps(out, mask, _mm512_add_ps(*acc, _mm512_maskz_loadu_ps(mask, out)));
        }
    }

    /// Adds the terms of the cell at `(DY, DX)` to the region's sums.
    #[inline(always)]
    unsafe fn add_cell<const DY: usize, const DX: usize>(acc: &mut Sums, terms: &[Term], slice: *const f32, last: usize) {
        for t in terms {
            let (value, filter) = (_mm512_set1_ps(t.value), slice.add((t.at as usize).min(last)));
            for tap in 0..TAPS {
                let sum = &mut acc[(DY + tap / 3) * SIDE + DX + tap % 3];
                *sum = _mm512_fmadd_ps(value, _mm512_loadu_ps(filter.add(16 * tap)), *sum);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffer::Aligned;
    use crate::rng::Rng;

    #[test]
    fn slices_hold_the_kernel_by_sixteen_channels() {
        // A partial slice and few filters; whole slices with 16-filter blocks and a tail.
        for (c, f) in [(20, 3), (32, 40)] {
            let kernel: Vec<f32> = (0..TAPS * c * f).map(|i| i as f32).collect();
            let mut out = vec![-1.0; sliced_len(c, f)];
            slice_kernel(&kernel, c, f, &mut out);
            for (s, j, t, l) in (0..c.div_ceil(16)).flat_map(|s| (0..f).flat_map(move |j| (0..TAPS).flat_map(move |t| (0..16).map(move |l| (s, j, t, l))))) {
                let ch = 16 * s + l;
                let want = if ch < c { kernel[(t * c + ch) * f + j] } else { 0.0 };
                assert_eq!(out[(s * f + j) * FILTER_STEP + t * 16 + l], want, "{c}x{f}: slice {s} filter {j} tap {t} lane {l}");
            }
        }
    }

    #[test]
    fn matches_the_reference_and_writes_only_the_region() {
        let mut rng = Rng::new(5);
        let f = 7;
        let mut slice = Aligned::take(f * FILTER_STEP);
        slice.iter_mut().for_each(|v| *v = rng.normal());
        for (c, lanes) in [(32, 16), (20, 4), (16, 16), (8, 8)] {
            let row_step = 6 * c + 3;
            let counts = [3, 0, 7, 1];
            let terms: Vec<Vec<Term>> = counts.iter().map(|&n| (0..n).map(|_| Term { value: rng.normal(), at: (rng.below(f) * FILTER_STEP) as u32 }).collect()).collect();
            let cells = [&terms[0][..], &terms[1][..], &terms[2][..], &terms[3][..]];
            let before: Vec<f32> = (0..4 * row_step).map(|_| rng.normal()).collect();
            let (mut got, mut want) = (before.clone(), before.clone());
            add_window(cells, &slice, &mut got, row_step, c, lanes);
            reference(cells, &slice, &mut want, row_step, c, lanes);
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!((g - w).abs() <= 1e-5 * (1.0 + w.abs()), "{c} channels, {lanes} lanes [{i}]: {g} vs {w}");
                let inside = i / row_step < SIDE && i % row_step < SIDE * c && i % row_step % c < lanes;
                if !inside {
                    assert_eq!(g, &before[i], "{c} channels, {lanes} lanes: [{i}] is outside the region but was written");
                }
            }
        }
    }

    #[test]
    fn any_offset_is_read_safely() {
        // Offsets off a vector's boundary, and a slice that starts off one.
        let slice: Vec<f32> = (0..3 * FILTER_STEP + 5).map(|i| i as f32).collect();
        let cells: [&[Term]; 4] = [&[Term { value: 1.0, at: 7 }], &[Term { value: 2.0, at: 300 }], &[], &[Term { value: 0.5, at: 1 }]];
        let (mut got, mut want) = ([0.0; 4 * 64], [0.0; 4 * 64]);
        add_window(cells, &slice[3..], &mut got, 64, 16, 16);
        reference(cells, &slice[3..], &mut want, 64, 16, 16);
        assert_eq!(got, want);
    }

    #[test]
    fn a_filter_past_the_slice_reads_the_last() {
        let mut slice = Aligned::zeros(2 * FILTER_STEP);
        slice[FILTER_STEP..].fill(1.0);
        let (mut got, mut want) = ([0.0; 4 * 64], [0.0; 4 * 64]);
        add_window([&[Term { value: 2.0, at: 7 * FILTER_STEP as u32 }], &[], &[], &[]], &slice, &mut got, 64, 16, 16);
        add_window([&[Term { value: 2.0, at: FILTER_STEP as u32 }], &[], &[], &[]], &slice, &mut want, 64, 16, 16);
        assert_eq!(got, want);
        assert_eq!(got[0], 2.0);
    }

    #[test]
    #[should_panic(expected = "runs past")]
    fn a_region_past_dst_is_refused() {
        let slice = Aligned::zeros(FILTER_STEP);
        add_window([&[], &[], &[], &[]], &slice, &mut [0.0; 3 * 64 + 3 * 16 + 15], 64, 16, 16);
    }
}
