//! A sum of scaled rows gathered from anywhere in a buffer, added to one
//! output row: `dst[..len] += sum over terms t of t.value * src[t.at..][..len]`.
//!
//! It is the inner loop of a gradient that reaches only some rows, such as a
//! convolution's behind max pooling, where each window passes its gradient
//! to one position per channel: the rows are summed in registers, in the
//! order of `terms`, and `dst` is read and written once.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

#[cfg(target_arch = "x86_64")]
use super::simd::lane_mask;
use super::tile::{isa, Isa};

/// One scaled row: `value * src[at..at + len]`.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct Term {
    /// The scale.
    pub value: f32,
    /// Where the row starts in `src`.
    pub at: u32,
}

/// The longest row one call sums (eight vectors of the widest instruction set).
pub const MAX_LEN: usize = 128;

/// The most rows one call sums at once.
pub const MAX_ROWS: usize = 3;

/// Which rows a call sums: `count` rows, `src_step` apart in `src` and `dst_step` apart in `dst`.
#[derive(Clone, Copy, Debug)]
pub struct Rows {
    /// Rows per term (at most [`MAX_ROWS`]).
    pub count: usize,
    /// Distance in `src` between a term's rows.
    pub src_step: usize,
    /// Distance in `dst` between the output rows.
    pub dst_step: usize,
}

/// For each row `r < rows.count`: `dst[r * dst_step..][..len] += sum of
/// t.value * src[t.at + r * src_step..][..len]` over `terms`, in their
/// order, summed in registers; `len` at most [`MAX_LEN`].
///
/// Panics if a row runs past `src` or `dst`, or `rows.count` exceeds [`MAX_ROWS`].
pub fn gather_add(terms: &[Term], src: &[f32], dst: &mut [f32], len: usize, rows: Rows) {
    assert!(len <= MAX_LEN && rows.count <= MAX_ROWS, "gather_add: {} rows of {len}", rows.count);
    if len == 0 || rows.count == 0 || terms.is_empty() {
        return;
    }
    let reach = |step: usize| (rows.count - 1).checked_mul(step).and_then(|r| r.checked_add(len));
    assert!(reach(rows.dst_step).is_some_and(|end| end <= dst.len()), "gather_add: {} rows of {len} run past the {} values of dst", rows.count, dst.len());
    let last = terms.iter().map(|t| t.at).max().unwrap_or(0) as usize;
    assert!(reach(rows.src_step).and_then(|r| r.checked_add(last)).is_some_and(|end| end <= src.len()), "gather_add: a row runs past the {} values of src", src.len());
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the asserts bound every row read and written; the CPU has the instruction set used.
    unsafe {
        match isa() {
            Some(Isa::Avx512) => return avx512::dispatch(terms, src.as_ptr(), dst.as_mut_ptr(), len, rows),
            Some(Isa::Avx2) => return avx2::dispatch(terms, src.as_ptr(), dst.as_mut_ptr(), len, rows),
            None => {}
        }
    }
    reference(terms, src, dst, len, rows);
}

/// [`gather_add`] as plain loops (each product rounded, then added).
pub fn reference(terms: &[Term], src: &[f32], dst: &mut [f32], len: usize, rows: Rows) {
    for r in 0..rows.count {
        let mut acc = [0.0f32; MAX_LEN];
        for t in terms {
            let row = &src[t.at as usize + r * rows.src_step..][..len];
            acc[..len].iter_mut().zip(row).for_each(|(a, &s)| *a += t.value * s);
        }
        dst[r * rows.dst_step..][..len].iter_mut().zip(&acc).for_each(|(d, a)| *d += a);
    }
}

/// Lists one pooling window's terms by cell: for each filter `j` whose
/// maximum passes a gradient (`y[j] > 0` and `dy[j] != 0`) and sits in cell
/// `k = arg[j]`, appends `{dy[j], j * step}` to cell `k`'s list,
/// `terms[k * f..][..counts[k]]`, in the order of `j` (`f = y.len()`).
///
/// Panics if the slices are shorter than `cells` lists of `f` (or `arg`, `dy` than `y`).
pub fn list_by_cell(y: &[f32], dy: &[f32], arg: &[u8], step: u32, terms: &mut [Term], counts: &mut [usize]) {
    check_by_cell(y, dy, arg, terms, counts);
    counts.fill(0);
    #[cfg(target_arch = "x86_64")]
    if isa() == Some(Isa::Avx512) {
        // SAFETY: the assert bounds every read and write; the CPU has AVX-512F.
        return unsafe { avx512_lists::list_by_cell(y, dy, arg, step, terms, counts) };
    }
    list_by_cell_reference(y, dy, arg, step, terms, counts);
}

/// [`list_by_cell`] as a plain loop (`counts` zero to begin with).
pub fn list_by_cell_reference(y: &[f32], dy: &[f32], arg: &[u8], step: u32, terms: &mut [Term], counts: &mut [usize]) {
    let (f, cells) = (y.len(), counts.len());
    for (j, ((&y, &dy), &k)) in y.iter().zip(dy).zip(arg).enumerate() {
        let k = k as usize;
        if y > 0.0 && dy != 0.0 && k < cells {
            terms[k * f + counts[k]] = Term { value: dy, at: j as u32 * step };
            counts[k] += 1;
        }
    }
}

/// Appends one pooling window's terms to lists by filter: for each filter
/// `j` whose maximum passes a gradient (`y[j] > 0` and `dy[j] != 0`) and
/// sits in cell `k = arg[j]`, `{dy[j], origins[k]}` goes to the end of list
/// `j`, `terms[j * capacity..][..counts[j]]`. A full list drops the term; a
/// cell past `origins` gives offset 0.
///
/// Panics if the slices are shorter than `f = y.len()` lists of `capacity`
/// (or `dy`, `arg` than `y`).
pub fn list_by_filter(y: &[f32], dy: &[f32], arg: &[u8], origins: &[u32], capacity: usize, terms: &mut [Term], counts: &mut [u32]) {
    check_by_filter(y, dy, arg, capacity, terms, counts);
    #[cfg(target_arch = "x86_64")]
    if scatters(y.len(), origins, capacity) {
        // SAFETY: the assert bounds every read and write (slots are clamped
        // to their lists, which fit 32-bit indices); the CPU has AVX-512F.
        return unsafe { avx512_lists::list_by_filter(y, dy, arg, origins, capacity, terms, counts) };
    }
    for (j, ((&y, &dy), &k)) in y.iter().zip(dy).zip(arg).enumerate() {
        let count = &mut counts[j];
        if y > 0.0 && dy != 0.0 && (*count as usize) < capacity {
            terms[j * capacity + *count as usize] = Term { value: dy, at: origins.get(k as usize).copied().unwrap_or(0) };
            *count += 1;
        }
    }
}

/// Where [`list_window`] appends a window's terms by filter (as
/// [`list_by_filter`] takes them) and adds their gradients (`bias[j]`).
pub struct ByFilter<'a> {
    /// Each cell's offset.
    pub origins: &'a [u32],
    /// Terms a list holds.
    pub capacity: usize,
    /// The lists.
    pub terms: &'a mut [Term],
    /// Their lengths.
    pub counts: &'a mut [u32],
    /// Each filter's sum of gradients, in the order of its list.
    pub bias: &'a mut [f32],
}

/// Where [`list_window`] lists a window's terms by cell (as [`list_by_cell`] takes them).
pub struct ByCell<'a> {
    /// Distance between two filters' rows.
    pub step: u32,
    /// The lists.
    pub terms: &'a mut [Term],
    /// Their lengths (set, not added to).
    pub counts: &'a mut [usize],
}

/// [`list_by_filter`], the gradients that pass added to `filters.bias`,
/// and [`list_by_cell`], for one pooling window in one pass: each 16
/// filters' values, gradients and cells are read and compared once.
///
/// Panics as the two would.
pub fn list_window(y: &[f32], dy: &[f32], arg: &[u8], filters: ByFilter, cells: ByCell) {
    let f = y.len();
    assert!(filters.bias.len() >= f, "list_window: {} bias sums for {f} filters", filters.bias.len());
    #[cfg(target_arch = "x86_64")]
    if scatters(f, filters.origins, filters.capacity) {
        check_by_filter(y, dy, arg, filters.capacity, filters.terms, filters.counts);
        check_by_cell(y, dy, arg, cells.terms, cells.counts);
        cells.counts.fill(0);
        // SAFETY: the asserts bound every read and write (as in the two
        // functions this does at once); the CPU has AVX-512F.
        return unsafe { avx512_lists::list_window(y, dy, arg, filters, cells) };
    }
    list_by_filter(y, dy, arg, filters.origins, filters.capacity, filters.terms, filters.counts);
    for ((bias, &y), &dy) in filters.bias.iter_mut().zip(y).zip(dy) {
        *bias += if y > 0.0 && dy != 0.0 { dy } else { 0.0 };
    }
    list_by_cell(y, dy, arg, cells.step, cells.terms, cells.counts);
}

/// Checks the sizes [`list_by_filter`]'s writes rely on: `y.len()` lists of `capacity`.
fn check_by_filter(y: &[f32], dy: &[f32], arg: &[u8], capacity: usize, terms: &[Term], counts: &[u32]) {
    let f = y.len();
    assert!(dy.len() >= f && arg.len() >= f && counts.len() >= f && terms.len() >= f * capacity, "list_by_filter: {f} lists of {capacity}");
}

/// Checks the sizes [`list_by_cell`]'s writes rely on: `counts.len()` lists of `y.len()`.
fn check_by_cell(y: &[f32], dy: &[f32], arg: &[u8], terms: &[Term], counts: &[usize]) {
    let (f, cells) = (y.len(), counts.len());
    assert!(dy.len() >= f && arg.len() >= f && terms.len() >= cells * f, "list_by_cell: {cells} lists of {f}");
}

/// Whether the lists by filter are made 16 filters at a time with a scatter:
/// AVX-512, a cell's origin in one vector, and every slot a 32-bit index.
#[cfg(target_arch = "x86_64")]
fn scatters(f: usize, origins: &[u32], capacity: usize) -> bool {
    isa() == Some(Isa::Avx512) && origins.len() <= 16 && capacity > 0 && f * capacity <= i32::MAX as usize
}

/// Picks the kernel for `rows.count` rows of `$v` vectors: `$kernel::<R, V>`.
#[cfg(target_arch = "x86_64")]
macro_rules! by_size {
    ($kernel:ident, $v:expr, $rows:expr, $args:tt; $($n:literal)*) => {
        match ($rows, $v) {
            $((1, $n) => $kernel::<1, $n> $args, (2, $n) => $kernel::<2, $n> $args, (3, $n) => $kernel::<3, $n> $args,)*
            _ => unreachable!("sizes are checked by gather_add"),
        }
    };
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::*;

    pub(super) unsafe fn dispatch(terms: &[Term], src: *const f32, dst: *mut f32, len: usize, rows: Rows) {
        by_size!(sum, len.div_ceil(16), rows.count, (terms, src, dst, len, rows); 1 2 3 4 5 6 7 8)
    }

    /// `R` rows of `V` vectors of 16 lanes, the last masked to `len`.
    #[target_feature(enable = "avx512f")]
    unsafe fn sum<const R: usize, const V: usize>(terms: &[Term], src: *const f32, dst: *mut f32, len: usize, rows: Rows) {
        let tail = len - (V - 1) * 16;
        let last: __mmask16 = lane_mask(tail);
        let mask = |v: usize| if v + 1 < V { 0xffff } else { last };
        let mut acc = [[_mm512_setzero_ps(); V]; R];
        for t in terms {
            let scale = _mm512_set1_ps(t.value);
            let first = src.add(t.at as usize);
            for (r, acc) in acc.iter_mut().enumerate() {
                let row = first.add(r * rows.src_step);
                for (v, acc) in acc.iter_mut().enumerate() {
                    *acc = _mm512_fmadd_ps(scale, _mm512_maskz_loadu_ps(mask(v), row.add(16 * v)), *acc);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            for (v, acc) in acc.iter().enumerate() {
                let p = dst.add(r * rows.dst_step + 16 * v);
                _mm512_mask_storeu_ps(p, mask(v), _mm512_add_ps(*acc, _mm512_maskz_loadu_ps(mask(v), p)));
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512_lists {
    use super::*;

    /// Filters `j0..j0 + 16` of a window (the lanes that exist, `lanes`):
    /// their cells, their gradients, and which pass one (`y > 0`, `dy != 0`).
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn filters(y: &[f32], dy: &[f32], arg: &[u8], j0: usize) -> (__mmask16, __m512i, __m512, __mmask16) {
        let n = (y.len() - j0).min(16);
        let lanes = lane_mask(n);
        // A whole vector's cells straight from `arg` (a copy through the
        // stack was a call to memcpy for every 16 filters).
        let bytes = match n {
            16 => _mm_loadu_si128(arg.as_ptr().add(j0).cast()),
            _ => {
                let mut bytes = [0u8; 16];
                bytes[..n].copy_from_slice(&arg[j0..j0 + n]);
                _mm_loadu_si128(bytes.as_ptr().cast())
            }
        };
        let cell = _mm512_cvtepu8_epi32(bytes);
        let (yv, dyv) = (_mm512_maskz_loadu_ps(lanes, y.as_ptr().add(j0)), _mm512_maskz_loadu_ps(lanes, dy.as_ptr().add(j0)));
        let zero = _mm512_setzero_ps();
        let passed = _mm512_mask_cmp_ps_mask::<_CMP_NEQ_UQ>(_mm512_mask_cmp_ps_mask::<_CMP_GT_OQ>(lanes, yv, zero), dyv, zero);
        (lanes, cell, dyv, passed)
    }

    /// The permutes that interleave values and offsets into terms: lanes
    /// 0-7 of each, then lanes 8-15.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn interleave() -> (__m512i, __m512i) {
        let first = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        (first, _mm512_add_epi32(first, _mm512_set1_epi32(8)))
    }

    /// [`super::list_by_filter`]'s step for filters `j0..j0 + 16` (`lanes`
    /// of them, these `cell`s, gradients `dyv`, `passed`): the terms made
    /// side by side (the origin of each lane's cell by a permute),
    /// interleaved, and scattered to their lists' ends with the counts beside them.
    #[inline]
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn filter_step(j0: usize, (lanes, cell, dyv, passed): (__mmask16, __m512i, __m512, __mmask16), origins: &[u32], capacity: usize, terms: &mut [Term], counts: &mut [u32]) {
        let count = origins.len();
        let origins = _mm512_maskz_loadu_epi32(lane_mask(count), origins.as_ptr().cast());
        let (first, second) = interleave();
        let iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        let (room, base) = (_mm512_set1_epi32(capacity as i32), terms.as_mut_ptr().cast::<i64>());
        let held = _mm512_maskz_loadu_epi32(lanes, counts.as_ptr().add(j0).cast());
        let kept = passed & _mm512_cmplt_epu32_mask(held, room);
        // A cell past the origins (16 at most) reads a zero lane: a wrong offset, never a write outside.
        let known = _mm512_cmplt_epu32_mask(cell, _mm512_set1_epi32(count as i32));
        let (values, ats) = (_mm512_castps_si512(dyv), _mm512_maskz_permutexvar_epi32(known, cell, origins));
        let slots = _mm512_add_epi32(_mm512_mullo_epi32(_mm512_add_epi32(iota, _mm512_set1_epi32(j0 as i32)), room), held);
        _mm512_mask_i32scatter_epi64::<8>(base.cast(), kept as u8, _mm512_castsi512_si256(slots), _mm512_permutex2var_epi32(values, first, ats));
        _mm512_mask_i32scatter_epi64::<8>(base.cast(), (kept >> 8) as u8, _mm512_extracti64x4_epi64::<1>(slots), _mm512_permutex2var_epi32(values, second, ats));
        _mm512_mask_storeu_epi32(counts.as_mut_ptr().add(j0).cast(), lanes, _mm512_mask_add_epi32(held, kept, held, _mm512_set1_epi32(1)));
    }

    /// [`super::list_by_cell`]'s step for filters `j0..j0 + 16`: each cell's
    /// terms packed to the front of a vector (a compress), interleaved into
    /// terms and written with masked stores, so nothing past a list's end is touched.
    #[inline]
    #[target_feature(enable = "avx512f,popcnt")]
    unsafe fn cell_step(j0: usize, f: usize, (_, cell, dyv, passed): (__mmask16, __m512i, __m512, __mmask16), step: u32, terms: &mut [Term], counts: &mut [usize]) {
        let (first, second) = interleave();
        let iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        let at = _mm512_mullo_epi32(_mm512_add_epi32(iota, _mm512_set1_epi32(j0 as i32)), _mm512_set1_epi32(step as i32));
        for (k, count) in counts.iter_mut().enumerate() {
            let here = _mm512_mask_cmpeq_epi32_mask(passed, cell, _mm512_set1_epi32(k as i32));
            let kept = here.count_ones() as usize;
            if kept == 0 {
                continue;
            }
            let values = _mm512_castps_si512(_mm512_maskz_compress_ps(here, dyv));
            let ats = _mm512_maskz_compress_epi32(here, at);
            let out = terms.as_mut_ptr().add(k * f + *count).cast::<i32>();
            // Two 32-bit words a term.
            let words = |terms: usize| lane_mask(2 * terms);
            _mm512_mask_storeu_epi32(out, words(kept.min(8)), _mm512_permutex2var_epi32(values, first, ats));
            if kept > 8 {
                _mm512_mask_storeu_epi32(out.add(16), words(kept - 8), _mm512_permutex2var_epi32(values, second, ats));
            }
            *count += kept;
        }
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn list_by_filter(y: &[f32], dy: &[f32], arg: &[u8], origins: &[u32], capacity: usize, terms: &mut [Term], counts: &mut [u32]) {
        for j0 in (0..y.len()).step_by(16) {
            filter_step(j0, filters(y, dy, arg, j0), origins, capacity, terms, counts);
        }
    }

    #[target_feature(enable = "avx512f,popcnt")]
    pub(super) unsafe fn list_by_cell(y: &[f32], dy: &[f32], arg: &[u8], step: u32, terms: &mut [Term], counts: &mut [usize]) {
        for j0 in (0..y.len()).step_by(16) {
            cell_step(j0, y.len(), filters(y, dy, arg, j0), step, terms, counts);
        }
    }

    /// [`super::list_window`]: both steps and the bias sums on each 16 filters' values.
    #[target_feature(enable = "avx512f,popcnt")]
    pub(super) unsafe fn list_window(y: &[f32], dy: &[f32], arg: &[u8], by_filter: ByFilter, by_cell: ByCell) {
        for j0 in (0..y.len()).step_by(16) {
            let window = filters(y, dy, arg, j0);
            let (lanes, _, dyv, passed) = window;
            filter_step(j0, window, by_filter.origins, by_filter.capacity, by_filter.terms, by_filter.counts);
            let bias = by_filter.bias.as_mut_ptr().add(j0);
            _mm512_mask_storeu_ps(bias, lanes, _mm512_add_ps(_mm512_maskz_loadu_ps(lanes, bias), _mm512_maskz_mov_ps(passed, dyv)));
            cell_step(j0, y.len(), window, by_cell.step, by_cell.terms, by_cell.counts);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::*;

    pub(super) unsafe fn dispatch(terms: &[Term], src: *const f32, dst: *mut f32, len: usize, rows: Rows) {
        // At most 12 accumulators (and a row vector and a scale) in 16 registers.
        let part = if rows.count == 1 { 64 } else { 32 };
        for start in (0..len).step_by(part) {
            let n = (len - start).min(part);
            by_size!(sum, n.div_ceil(8), rows.count, (terms, src.add(start), dst.add(start), n, rows); 1 2 3 4 5 6 7 8)
        }
    }

    /// `R` rows of `V` vectors of 8 lanes, the last masked to `len`.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn sum<const R: usize, const V: usize>(terms: &[Term], src: *const f32, dst: *mut f32, len: usize, rows: Rows) {
        let tail = (len - (V - 1) * 8) as i32;
        let last = crate::kernels::simd::lane_mask8(tail as usize);
        let whole = |v: usize| tail == 8 || v + 1 < V;
        let load = |p: *const f32, v: usize| if whole(v) { _mm256_loadu_ps(p) } else { _mm256_maskload_ps(p, last) };
        let mut acc = [[_mm256_setzero_ps(); V]; R];
        for t in terms {
            let scale = _mm256_set1_ps(t.value);
            let first = src.add(t.at as usize);
            for (r, acc) in acc.iter_mut().enumerate() {
                let row = first.add(r * rows.src_step);
                for (v, acc) in acc.iter_mut().enumerate() {
                    *acc = _mm256_fmadd_ps(scale, load(row.add(8 * v), v), *acc);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            for (v, acc) in acc.iter().enumerate() {
                let p = dst.add(r * rows.dst_step + 8 * v);
                let value = _mm256_add_ps(*acc, load(p, v));
                match whole(v) {
                    true => _mm256_storeu_ps(p, value),
                    false => _mm256_maskstore_ps(p, last, value),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn every_size_matches_the_reference() {
        let mut rng = Rng::new(3);
        let src: Vec<f32> = (0..2000).map(|_| rng.normal()).collect();
        for count in 0..=MAX_ROWS {
            let rows = Rows { count, src_step: 301, dst_step: 140 };
            for len in 0..=MAX_LEN {
                let terms: Vec<Term> = (0..7).map(|i| Term { value: rng.normal(), at: ((i * 131 + len) % (1300 - len)) as u32 }).collect();
                let before: Vec<f32> = (0..3 * 140 + 5).map(|_| rng.normal()).collect();
                let (mut got, mut want) = (before.clone(), before.clone());
                gather_add(&terms, &src, &mut got, len, rows);
                reference(&terms, &src, &mut want, len, rows);
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!((g - w).abs() <= 1e-5 * (1.0 + w.abs()), "{count} rows of {len} [{i}]: {g} vs {w}");
                    if i % 140 >= len || i / 140 >= count {
                        assert_eq!(g, &before[i], "{count} rows of {len}: [{i}] is outside them but was written");
                    }
                }
            }
        }
    }

    #[test]
    fn lists_by_cell_as_the_reference_does() {
        let mut rng = Rng::new(4);
        for (f, cells) in [(64, 4), (20, 4), (7, 9), (33, 1), (16, 2)] {
            let y: Vec<f32> = (0..f).map(|i| if i % 5 == 0 { 0.0 } else { rng.normal() }).collect();
            let dy: Vec<f32> = (0..f).map(|i| if i % 7 == 3 { 0.0 } else if i == 2 { f32::NAN } else { rng.normal() }).collect();
            let arg: Vec<u8> = (0..f).map(|i| ((i * 11 + f) % (cells + 1)) as u8).collect();
            let blank = Term { value: -9.0, at: 99 };
            let (mut got, mut want) = (vec![blank; cells * f], vec![blank; cells * f]);
            let (mut got_counts, mut want_counts) = (vec![5; cells], vec![0; cells]);
            list_by_cell(&y, &dy, &arg, 288, &mut got, &mut got_counts);
            list_by_cell_reference(&y, &dy, &arg, 288, &mut want, &mut want_counts);
            assert_eq!(got_counts, want_counts, "{f} filters, {cells} cells");
            for k in 0..cells {
                let (g, w) = (&got[k * f..][..f], &want[k * f..][..f]);
                // Bits, for the NaN gradient; nothing past a list's end is written.
                let bits = |t: &[Term]| t.iter().map(|t| (t.value.to_bits(), t.at)).collect::<Vec<_>>();
                assert_eq!(bits(g), bits(w), "{f} filters, cell {k}");
            }
        }
    }

    #[test]
    fn lists_by_filter_as_the_plain_loop_does() {
        let mut rng = Rng::new(6);
        for (f, cells) in [(64, 4), (20, 4), (7, 9), (33, 1)] {
            let capacity = 5;
            let origins: Vec<u32> = (0..cells).map(|k| 1000 + 37 * k as u32).collect();
            let (mut got, mut want) = (vec![Term { value: -9.0, at: 99 }; f * capacity], vec![Term { value: -9.0, at: 99 }; f * capacity]);
            let (mut got_counts, mut want_counts) = (vec![0u32; f], vec![0; f]);
            for _ in 0..capacity + 1 {
                let y: Vec<f32> = (0..f).map(|i| if i % 5 == 0 { 0.0 } else { rng.normal() }).collect();
                let dy: Vec<f32> = (0..f).map(|i| if i % 7 == 3 { 0.0 } else if i == 2 { f32::NAN } else { rng.normal() }).collect();
                let arg: Vec<u8> = (0..f).map(|_| rng.below(cells) as u8).collect();
                list_by_filter(&y, &dy, &arg, &origins, capacity, &mut got, &mut got_counts);
                for (j, ((&y, &dy), &k)) in y.iter().zip(&dy).zip(&arg).enumerate() {
                    if y > 0.0 && dy != 0.0 && want_counts[j] < capacity {
                        want[j * capacity + want_counts[j]] = Term { value: dy, at: origins[k as usize] };
                        want_counts[j] += 1;
                    }
                }
            }
            assert_eq!(got_counts.iter().map(|&n| n as usize).collect::<Vec<_>>(), want_counts, "{f} filters, {cells} cells");
            let bits = |t: &[Term]| t.iter().map(|t| (t.value.to_bits(), t.at)).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "{f} filters, {cells} cells: the lists and nothing past them");
        }
    }

    #[test]
    fn lists_a_window_as_the_two_listings_and_the_bias_loop_do() {
        let mut rng = Rng::new(8);
        for (f, cells) in [(64, 4), (20, 4), (7, 9), (33, 1)] {
            let (capacity, step) = (5, 288);
            let origins: Vec<u32> = (0..cells).map(|k| 1000 + 37 * k as u32).collect();
            let blank = Term { value: -9.0, at: 99 };
            let (mut filter_terms, mut filter_counts, mut bias) = ([vec![blank; f * capacity], vec![blank; f * capacity]], [vec![0u32; f], vec![0u32; f]], [vec![0.5f32; f], vec![0.5f32; f]]);
            let (mut cell_terms, mut cell_counts) = ([vec![blank; cells * f], vec![blank; cells * f]], [vec![7usize; cells], vec![7usize; cells]]);
            for _ in 0..capacity + 1 {
                let y: Vec<f32> = (0..f).map(|i| if i % 5 == 0 { 0.0 } else { rng.normal() }).collect();
                let dy: Vec<f32> = (0..f).map(|i| if i % 7 == 3 { 0.0 } else if i == 2 { f32::NAN } else { rng.normal() }).collect();
                let arg: Vec<u8> = (0..f).map(|_| rng.below(cells) as u8).collect();
                let [ft, want_ft] = &mut filter_terms;
                let [fc, want_fc] = &mut filter_counts;
                let [b, want_b] = &mut bias;
                let [ct, want_ct] = &mut cell_terms;
                let [cc, want_cc] = &mut cell_counts;
                list_window(&y, &dy, &arg, ByFilter { origins: &origins, capacity, terms: ft, counts: fc, bias: b }, ByCell { step, terms: ct, counts: cc });
                list_by_filter(&y, &dy, &arg, &origins, capacity, want_ft, want_fc);
                want_b.iter_mut().zip(&y).zip(&dy).for_each(|((b, &y), &dy)| *b += if y > 0.0 && dy != 0.0 { dy } else { 0.0 });
                list_by_cell(&y, &dy, &arg, step, want_ct, want_cc);
                let bits = |t: &[Term]| t.iter().map(|t| (t.value.to_bits(), t.at)).collect::<Vec<_>>();
                assert_eq!((bits(ft), &fc, bits(ct), &cc), (bits(want_ft), &want_fc, bits(want_ct), &want_cc), "{f} filters, {cells} cells");
                assert!(b.iter().zip(want_b.iter()).all(|(a, w)| a.to_bits() == w.to_bits()), "{f} filters, {cells} cells: bias sums");
            }
        }
    }

    #[test]
    fn a_full_list_drops_the_term() {
        let mut terms = [Term { value: 0.0, at: 0 }; 2];
        let mut counts = [1, 0];
        list_by_filter(&[1.0, 1.0], &[2.0, 3.0], &[0, 1], &[5], 1, &mut terms, &mut counts);
        assert_eq!(counts, [1, 1]);
        assert_eq!(terms, [Term { value: 0.0, at: 0 }, Term { value: 3.0, at: 0 }], "a cell past the origins gives offset 0");
    }

    #[test]
    #[should_panic(expected = "runs past")]
    fn a_row_past_the_end_is_refused() {
        gather_add(&[Term { value: 1.0, at: 5 }], &[0.0; 100], &mut [0.0; 26], 6, Rows { count: 2, src_step: 90, dst_step: 20 });
    }
}
