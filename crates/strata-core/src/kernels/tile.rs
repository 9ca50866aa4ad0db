//! A register-tiled multiply-accumulate, the inner loop of the direct
//! convolutions in [`super::direct`].
//!
//! One call computes a block of `rows x cols` outputs held in registers for
//! the whole reduction (`cols <= 64`, four AVX-512 vectors, with AVX-512;
//! `cols <= 16`, two AVX2 vectors, with AVX2 and FMA, whose 16 registers hold
//! a quarter of AVX-512's 32 wider ones):
//!
//! ```text
//! acc[r][j] = sum over segments s, t < s.len of
//!             a[s.a + r * a_row + t * a_step] * b[s.b + t * b_step + j]
//! ```
//!
//! The reduction is a list of segments, so a convolution walks its
//! receptive field (or its pixels) straight from the image: no im2col copy.
//! Each `a` value is broadcast and each `b` row is loaded once per step.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;
use std::sync::OnceLock;

/// One stretch of the reduction: start offsets into `a` and `b`, and length.
#[derive(Clone, Copy, Debug)]
pub struct Seg {
    /// Offset into `a` of the segment's first step.
    pub a: usize,
    /// Offset into `b` of the segment's first row.
    pub b: usize,
    /// Reduction steps in the segment.
    pub len: usize,
}

/// Strides of a tile (see the module docs); `c_row` is the distance between output rows.
#[derive(Clone, Copy, Debug)]
pub struct Tile {
    /// Output rows of the block (at most [`max_rows`] of `cols`).
    pub rows: usize,
    /// Output columns of the block (at most [`max_cols`]).
    pub cols: usize,
    /// Distance in `a` between consecutive output rows.
    pub a_row: usize,
    /// Distance in `a` between consecutive reduction steps.
    pub a_step: usize,
    /// Distance in `b` between consecutive reduction steps (rows of `b`).
    pub b_step: usize,
    /// Distance in `c` between consecutive output rows.
    pub c_row: usize,
}

/// What happens to the finished block.
#[derive(Clone, Copy, Debug)]
pub enum Out<'a> {
    /// `c = acc + bias[j]`, then relu when asked.
    Store {
        /// One value per output column, or no bias.
        bias: Option<&'a [f32]>,
        /// Whether negative results become 0.
        relu: bool,
    },
    /// `c += acc`.
    Add,
}

/// The instruction set tiles run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// AVX-512F: 32 registers of 16 lanes.
    Avx512,
    /// AVX2 with FMA: 16 registers of 8 lanes.
    Avx2,
}

/// The instruction set this CPU runs tiles on, or `None` (no tiles: callers
/// fall back to im2col + GEMM). `STRATA_KERNELS=portable` turns tiles off;
/// `STRATA_KERNELS=avx2` runs the AVX2 tiles on a CPU with AVX-512 (to test
/// or compare them).
pub fn isa() -> Option<Isa> {
    static ISA: OnceLock<Option<Isa>> = OnceLock::new();
    *ISA.get_or_init(|| {
        let asked = std::env::var("STRATA_KERNELS").map(|v| v.trim().to_string()).unwrap_or_default();
        #[cfg(target_arch = "x86_64")]
        let (avx512, avx2) = (std::is_x86_feature_detected!("avx512f"), std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma"));
        #[cfg(not(target_arch = "x86_64"))]
        let (avx512, avx2) = (false, false);
        match asked.as_str() {
            "portable" => None,
            _ if avx512 && asked != "avx2" => Some(Isa::Avx512),
            _ if avx2 => Some(Isa::Avx2),
            _ => None,
        }
    })
}

/// The lanes of one vector of the tiles' instruction set (16, else 8).
fn lanes() -> usize {
    match isa() {
        Some(Isa::Avx512) => 16,
        _ => 8,
    }
}

/// The most output columns one tile holds: four vectors with AVX-512, two with AVX2.
pub fn max_cols() -> usize {
    match isa() {
        Some(Isa::Avx512) => 64,
        _ => 16,
    }
}

/// The most rows a tile of `cols` columns holds in registers.
pub fn max_rows(cols: usize) -> usize {
    // Accumulators (rows x vectors), one row of `b` and one broadcast must fit
    // the registers: 32 with AVX-512, 16 with AVX2.
    match (isa(), cols.div_ceil(lanes())) {
        (Some(Isa::Avx512), 0 | 1) => 24,
        (Some(Isa::Avx512), 2) => 14,
        (Some(Isa::Avx512), 3) => 9,
        (Some(Isa::Avx512), _) => 6,
        (_, 0 | 1) => 12,
        _ => 6,
    }
}

/// Splits `len` rows into runs of at most `max`, as even as possible: `(start, len)`.
pub fn runs(len: usize, max: usize) -> impl Iterator<Item = (usize, usize)> {
    let count = len.div_ceil(max).max(1);
    (0..count).map(move |i| (i * len / count, (i + 1) * len / count - i * len / count)).filter(|r| r.1 > 0)
}

/// Splits `len` columns into blocks of up to [`max_cols`]: `(start, len)`.
pub fn col_blocks(len: usize) -> impl Iterator<Item = (usize, usize)> {
    let max = max_cols();
    (0..len).step_by(max).map(move |s| (s, max.min(len - s)))
}

/// Whether this CPU runs tiles (see [`isa`]). Callers fall back to im2col + GEMM otherwise.
pub fn available() -> bool {
    isa().is_some()
}

impl Tile {
    /// Runs the tile over `segs`, writing rows `c[r * c_row..][..cols]`.
    ///
    /// Panics if the tile is larger than [`max_rows`] / [`max_cols`], if any
    /// index falls outside its slice, or if the CPU runs no tiles
    /// (check [`available`] first).
    pub fn run(&self, a: &[f32], b: &[f32], segs: &[Seg], c: &mut [f32], out: Out) {
        let t = *self;
        assert!(t.cols >= 1 && t.cols <= max_cols() && t.rows >= 1 && t.rows <= max_rows(t.cols), "tile {t:?} too large");
        // Index bounds, computed without overflow (the fields are public).
        let last = |start: usize, terms: [(usize, usize); 2]| {
            terms.iter().try_fold(start, |sum, &(n, stride)| n.checked_mul(stride).and_then(|v| v.checked_add(sum)))
        };
        assert!(last(t.cols, [(t.rows - 1, t.c_row), (0, 0)]).is_some_and(|end| end <= c.len()), "tile output out of bounds");
        if let Out::Store { bias: Some(bias), .. } = out {
            assert!(bias.len() >= t.cols, "tile bias too short");
        }
        for s in segs.iter().filter(|s| s.len > 0) {
            assert!(last(s.a, [(t.rows - 1, t.a_row), (s.len - 1, t.a_step)]).is_some_and(|i| i < a.len()), "tile input a out of bounds");
            assert!(last(s.b.saturating_add(t.cols), [(s.len - 1, t.b_step), (0, 0)]).is_some_and(|end| end <= b.len()), "tile input b out of bounds");
        }
        assert!(available(), "tile kernels need AVX-512, or AVX2 and FMA");
        // SAFETY: the CPU runs tiles (asserted), and the asserts above bound
        // every index the kernel reads or writes.
        unsafe { self.run_unchecked(a, b, segs, c, out) }
    }

    /// [`Tile::run`] without its checks, for a caller that runs many small
    /// tiles over buffers whose sizes it has checked once.
    ///
    /// # Safety
    ///
    /// The CPU runs tiles ([`available`]), the tile is no larger than
    /// [`max_rows`] x [`max_cols`], and every index [`Tile::run`] checks is in bounds.
    pub(crate) unsafe fn run_unchecked(&self, a: &[f32], b: &[f32], segs: &[Seg], c: &mut [f32], out: Out) {
        #[cfg(target_arch = "x86_64")]
        match isa() {
            Some(Isa::Avx512) => dispatch(self, a.as_ptr(), b.as_ptr(), segs, c.as_mut_ptr(), out),
            _ => avx2::dispatch(self, a.as_ptr(), b.as_ptr(), segs, c.as_mut_ptr(), out),
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("no tiles here: {self:?} {} {} {} {} {out:?}", a.len(), b.len(), segs.len(), c.len());
    }
}

#[cfg(target_arch = "x86_64")]
macro_rules! dispatch_table {
    ($t:expr, $args:tt; $($v:literal => [$($r:literal)*]),*) => {
        match ($t.cols.div_ceil(16), $t.rows) {
            $($(($v, $r) => kernel::<$r, $v> $args,)*)*
            _ => unreachable!("tile sizes are checked by Tile::run"),
        }
    };
}

#[cfg(target_arch = "x86_64")]
unsafe fn dispatch(t: &Tile, a: *const f32, b: *const f32, segs: &[Seg], c: *mut f32, out: Out) {
    dispatch_table!(t, (t, a, b, segs, c, out);
        1 => [1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24],
        2 => [1 2 3 4 5 6 7 8 9 10 11 12 13 14],
        3 => [1 2 3 4 5 6 7 8 9],
        4 => [1 2 3 4 5 6])
}

/// `R` rows by `V` vectors of 16 columns; the last vector is masked to `t.cols`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn kernel<const R: usize, const V: usize>(t: &Tile, a: *const f32, b: *const f32, segs: &[Seg], c: *mut f32, out: Out) {
    let tail = t.cols - (V - 1) * 16;
    let mask: __mmask16 = super::simd::lane_mask(tail);
    // A bias starts the sums (one load per vector, not per row).
    let mut start = [_mm512_setzero_ps(); V];
    if let Out::Store { bias: Some(bias), .. } = out {
        for (v, s) in start.iter_mut().enumerate() {
            *s = _mm512_maskz_loadu_ps(if v + 1 < V { 0xffff } else { mask }, bias.as_ptr().add(16 * v));
        }
    }
    let mut acc = [start; R];
    for s in segs.iter().filter(|s| s.len > 0) {
        let mut ap = a.add(s.a);
        let mut bp = b.add(s.b);
        for _ in 0..s.len {
            let mut bv = [_mm512_setzero_ps(); V];
            for (v, bv) in bv.iter_mut().enumerate() {
                *bv = if v + 1 < V { _mm512_loadu_ps(bp.add(16 * v)) } else { _mm512_maskz_loadu_ps(mask, bp.add(16 * v)) };
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_ps(*ap.add(r * t.a_row));
                for (acc, bv) in acc.iter_mut().zip(&bv) {
                    *acc = _mm512_fmadd_ps(av, *bv, *acc);
                }
            }
            // Past the last step these point beyond the data; they are never read there.
            ap = ap.wrapping_add(t.a_step);
            bp = bp.wrapping_add(t.b_step);
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        let row = c.add(r * t.c_row);
        for (v, &acc) in acc.iter().enumerate() {
            let m = if v + 1 < V { 0xffff } else { mask };
            let p = row.add(16 * v);
            let value = match out {
                Out::Add => _mm512_add_ps(acc, _mm512_maskz_loadu_ps(m, p)),
                Out::Store { relu: true, .. } => _mm512_max_ps(acc, _mm512_setzero_ps()),
                Out::Store { relu: false, .. } => acc,
            };
            _mm512_mask_storeu_ps(p, m, value);
        }
    }
}

/// The same kernel on AVX2: `R` rows by `V` vectors of 8 columns.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{Out, Seg, Tile};

    pub(super) unsafe fn dispatch(t: &Tile, a: *const f32, b: *const f32, segs: &[Seg], c: *mut f32, out: Out) {
        // Rows, vectors, and whether the last vector is whole (no masked loads and stores).
        macro_rules! table {
            ($($v:literal => [$($r:literal)*]),*) => {
                match (t.cols.div_ceil(8), t.rows, t.cols % 8 == 0) {
                    $($(($v, $r, true) => kernel::<$r, $v, true>(t, a, b, segs, c, out),
                        ($v, $r, false) => kernel::<$r, $v, false>(t, a, b, segs, c, out),)*)*
                    _ => unreachable!("tile sizes are checked by Tile::run"),
                }
            };
        }
        table!(1 => [1 2 3 4 5 6 7 8 9 10 11 12], 2 => [1 2 3 4 5 6])
    }

    /// `WHOLE`: the last of the `V` vectors has all 8 columns (else its loads and stores are masked).
    #[target_feature(enable = "avx2,fma")]
    unsafe fn kernel<const R: usize, const V: usize, const WHOLE: bool>(t: &Tile, a: *const f32, b: *const f32, segs: &[Seg], c: *mut f32, out: Out) {
        let mask = crate::kernels::simd::lane_mask8(t.cols - (V - 1) * 8);
        let load = |p: *const f32, v: usize| if WHOLE || v + 1 < V { _mm256_loadu_ps(p) } else { _mm256_maskload_ps(p, mask) };
        let mut start = [_mm256_setzero_ps(); V];
        if let Out::Store { bias: Some(bias), .. } = out {
            for (v, s) in start.iter_mut().enumerate() {
                *s = load(bias.as_ptr().add(8 * v), v);
            }
        }
        let mut acc = [start; R];
        for s in segs.iter().filter(|s| s.len > 0) {
            let mut ap = a.add(s.a);
            let mut bp = b.add(s.b);
            for _ in 0..s.len {
                let bv: [__m256; V] = std::array::from_fn(|v| load(bp.add(8 * v), v));
                for (r, acc) in acc.iter_mut().enumerate() {
                    let av = _mm256_broadcast_ss(&*ap.add(r * t.a_row));
                    for (acc, bv) in acc.iter_mut().zip(&bv) {
                        *acc = _mm256_fmadd_ps(av, *bv, *acc);
                    }
                }
                // Past the last step these point beyond the data; they are never read there.
                ap = ap.wrapping_add(t.a_step);
                bp = bp.wrapping_add(t.b_step);
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            let row = c.add(r * t.c_row);
            for (v, &acc) in acc.iter().enumerate() {
                let p = row.add(8 * v);
                let value = match out {
                    Out::Add => _mm256_add_ps(acc, load(p, v)),
                    Out::Store { relu: true, .. } => _mm256_max_ps(acc, _mm256_setzero_ps()),
                    Out::Store { relu: false, .. } => acc,
                };
                if WHOLE || v + 1 < V {
                    _mm256_storeu_ps(p, value);
                } else {
                    _mm256_maskstore_ps(p, mask, value);
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
    #[should_panic(expected = "out of bounds")]
    fn strides_that_overflow_are_refused() {
        let (a, b, mut c) = (vec![0.0; 64], vec![0.0; 64], vec![0.0; 64]);
        let t = Tile { rows: 2, cols: 4, a_row: usize::MAX, a_step: 1, b_step: 4, c_row: 4 };
        t.run(&a, &b, &[Seg { a: 1, b: 0, len: 2 }], &mut c, Out::Add);
    }

    #[test]
    fn every_tile_size_matches_the_formula() {
        if !available() {
            eprintln!("skipped: this CPU has neither AVX-512 nor AVX2 with FMA");
            return;
        }
        let mut rng = Rng::new(5);
        let a: Vec<f32> = (0..4000).map(|_| rng.normal()).collect();
        let b: Vec<f32> = (0..4000).map(|_| rng.normal()).collect();
        let bias: Vec<f32> = (0..64).map(|_| rng.normal()).collect();
        let segs = [Seg { a: 3, b: 5, len: 7 }, Seg { a: 100, b: 900, len: 0 }, Seg { a: 200, b: 1000, len: 4 }];
        for cols in 1..=max_cols() {
            for rows in 1..=max_rows(cols) {
                let t = Tile { rows, cols, a_row: 13, a_step: 2, b_step: 70, c_row: 67 };
                for relu in [false, true] {
                    let before: Vec<f32> = (0..rows * 67).map(|_| rng.normal()).collect();
                    let (mut stored, mut added) = (before.clone(), before.clone());
                    t.run(&a, &b, &segs, &mut stored, Out::Store { bias: Some(&bias), relu });
                    t.run(&a, &b, &segs, &mut added, Out::Add);
                    for r in 0..rows {
                        for j in 0..67 {
                            let i = r * 67 + j;
                            if j >= cols {
                                assert_eq!((stored[i], added[i]), (before[i], before[i]), "column {j} beyond the tile was written");
                                continue;
                            }
                            let s: f64 = segs.iter().flat_map(|g| (0..g.len).map(move |k| (g, k)))
                                .map(|(g, k)| a[g.a + r * 13 + k * 2] as f64 * b[g.b + k * 70 + j] as f64)
                                .sum();
                            let expect = (s + bias[j] as f64) as f32;
                            let expect = expect.max(if relu { 0.0 } else { f32::MIN });
                            assert!((stored[i] - expect).abs() < 1e-4 * (1.0 + expect.abs()), "{rows}x{cols} store");
                            let expect = before[i] + s as f32;
                            assert!((added[i] - expect).abs() < 1e-4 * (1.0 + expect.abs()), "{rows}x{cols} add");
                        }
                    }
                }
            }
        }
    }
}
