//! Matrix multiply, delegated to the `gemm` crate (AVX-512 / AVX2 / FMA kernels
//! chosen at run time). It was measured faster than `matrixmultiply` on every
//! shape of the headline model on this project's machine (see the README).

use rayon::prelude::*;

use crate::buffer;
use crate::kernels::tile;

/// Shape and layout of `C[m, n] = A[m, k] · B[k, n]`, row-major; a transposed
/// operand is stored as its transpose (`A` as `[k, m]`, `B` as `[n, k]`).
#[derive(Clone, Copy, Debug)]
pub struct Gemm {
    /// Rows of `A` and `C`.
    pub m: usize,
    /// Columns of `A`, rows of `B`: the reduction length.
    pub k: usize,
    /// Columns of `B` and `C`.
    pub n: usize,
    /// Whether `A` is stored transposed, as `[k, m]`.
    pub trans_a: bool,
    /// Whether `B` is stored transposed, as `[n, k]`.
    pub trans_b: bool,
}

/// Below this many multiply-adds a second thread costs more than it saves.
const PARALLEL_MIN_FLOPS: usize = 1 << 18;
/// From this many multiply-adds on, a transposed right operand is transposed first.
const TRANSPOSE_B_MIN_FLOPS: usize = 1 << 24;

/// Writes the transpose of `src` (`rows x cols`, row-major) to `dst` (`cols x rows`),
/// 16 destination rows at a time, so the rows being written stay in cache;
/// whole 16x16 blocks are transposed in registers where the CPU has AVX-512.
pub fn transpose(src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
    transpose_sum(&[src], rows, cols, dst);
}

/// [`transpose`] of `parts[0] + parts[1] + ...` (each `rows x cols`), each
/// value's parts added first to last as [`add_parts_in_order`] adds them (the
/// same bits), the sum and the transpose in one pass: a convolution's kernel
/// gradient from its blocks' partial sums. For the headline CNN's second
/// convolution (eight partials of 18,432 values) on a Zen 5: 14.5 us, where
/// the sum (split 16,384 / 2,048 values between two threads) then the
/// transpose took 14 and 6.6.
///
/// [`add_parts_in_order`]: super::elementwise::add_parts_in_order
pub fn transpose_sum(parts: &[&[f32]], rows: usize, cols: usize, dst: &mut [f32]) {
    const B: usize = 16;
    assert!(!parts.is_empty() && parts.iter().all(|p| p.len() >= rows * cols) && dst.len() >= rows * cols, "transpose operands too small");
    if rows == 0 || cols == 0 {
        return;
    }
    let sum = |i: usize| parts[1..].iter().fold(parts[0][i], |total, p| total + p[i]);
    let blocks = |cb: usize, out: &mut [f32]| {
        // `out` holds destination rows (source columns) cb*B .. cb*B + B.
        let c0 = cb * B;
        let width = out.len() / rows;
        let mut r0 = 0;
        #[cfg(target_arch = "x86_64")]
        if width == B && tile::isa() == Some(tile::Isa::Avx512) {
            while r0 + B <= rows {
                // SAFETY: the block's 16 source rows of 16 from (r0, c0) in every
                // part and its 16 destination rows of 16 from (c0, r0) lie within
                // the parts and `out` (checked above); the CPU has AVX-512F.
                unsafe { avx512::sum_block(parts, r0 * cols + c0, cols, out[r0..].as_mut_ptr(), rows) };
                r0 += B;
            }
        }
        for r in r0..rows {
            for j in 0..width {
                out[j * rows + r] = sum(r * cols + c0 + j);
            }
        }
    };
    // Parallel even when small: done serially between two parallel passes
    // (the maxima's kernel transposes), the idle thread fell asleep and the
    // next pass waited to wake it (the headline CNN's backward 3% slower).
    dst[..rows * cols].par_chunks_mut(B * rows).enumerate().for_each(|(cb, out)| blocks(cb, out));
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512 {
    use std::arch::x86_64::*;

    /// Transposes the 16x16 block at `src` (rows `src_step` apart) to `dst`
    /// (rows `dst_step` apart) in registers: four rounds, each swapping the
    /// row and column index bit `d` (8, 4, 2, 1) of the elements where they
    /// differ, a pair of rows `d` apart at a time.
    #[target_feature(enable = "avx512f")]
    pub(crate) unsafe fn block(src: *const f32, src_step: usize, dst: *mut f32, dst_step: usize) {
        let r: [__m512; 16] = std::array::from_fn(|i| _mm512_loadu_ps(src.add(i * src_step)));
        store_transposed(r, dst, dst_step);
    }

    /// [`block`] of the sum of the 16x16 blocks at `at` (rows `step` apart)
    /// of every part, added first to last.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn sum_block(parts: &[&[f32]], at: usize, step: usize, dst: *mut f32, dst_step: usize) {
        let mut r: [__m512; 16] = std::array::from_fn(|i| _mm512_loadu_ps(parts[0].as_ptr().add(at + i * step)));
        for part in &parts[1..] {
            for (i, r) in r.iter_mut().enumerate() {
                *r = _mm512_add_ps(*r, _mm512_loadu_ps(part.as_ptr().add(at + i * step)));
            }
        }
        store_transposed(r, dst, dst_step);
    }

    /// Rows `r` transposed, to `dst` (rows `dst_step` apart).
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn store_transposed(mut r: [__m512; 16], dst: *mut f32, dst_step: usize) {
        round::<8>(&mut r);
        round::<4>(&mut r);
        round::<2>(&mut r);
        round::<1>(&mut r);
        for (i, row) in r.iter().enumerate() {
            _mm512_storeu_ps(dst.add(i * dst_step), *row);
        }
    }

    /// One round, for bit `D` (a constant, so the loops unroll and the rows stay in registers).
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn round<const D: usize>(r: &mut [__m512; 16]) {
        // Lane j of the upper row: its own where bit D of j is clear, else the
        // lower row's lane j - D; of the lower row: its own where set, else the upper row's j + D.
        let upper: [i32; 16] = std::array::from_fn(|j| if j & D == 0 { j as i32 } else { (16 + j - D) as i32 });
        let lower: [i32; 16] = std::array::from_fn(|j| if j & D != 0 { (16 + j) as i32 } else { (j + D) as i32 });
        let (upper, lower) = (_mm512_loadu_si512(upper.as_ptr().cast()), _mm512_loadu_si512(lower.as_ptr().cast()));
        for a in 0..16 {
            if a & D == 0 {
                let (x, y) = (r[a], r[a + D]);
                r[a] = _mm512_permutex2var_ps(x, upper, y);
                r[a + D] = _mm512_permutex2var_ps(x, lower, y);
            }
        }
    }
}

impl Gemm {
    /// `c = a·b`, or `c += a·b` when `accumulate`, using the thread pool when it pays.
    pub fn run(&self, a: &[f32], b: &[f32], c: &mut [f32], accumulate: bool) {
        let threads = crate::threads::num_threads();
        let parallel = threads > 1 && self.m * self.n * self.k >= PARALLEL_MIN_FLOPS;
        self.run_on(a, b, c, accumulate, if parallel { threads } else { 1 });
    }

    /// Like [`Gemm::run`] on the calling thread only (for callers that parallelise above it).
    pub fn run_serial(&self, a: &[f32], b: &[f32], c: &mut [f32], accumulate: bool) {
        self.run_on(a, b, c, accumulate, 1);
    }

    /// [`Gemm::run_small`] with the rows of `a` and `c` shared among the
    /// threads when the product is large enough to pay: for a recurrent
    /// layer's step made by one caller. Each output is one tile's sum over
    /// all of `k`, in order, so the bits are the same for any thread count.
    pub fn run_small_parallel(&self, a: &[f32], b: &[f32], c: &mut [f32], accumulate: bool) {
        let Gemm { m, k, n, trans_a, trans_b } = *self;
        let threads = crate::threads::num_threads();
        if trans_a || threads < 2 || m < 2 || m * n * k < PARALLEL_MIN_FLOPS {
            return self.run_small(a, b, c, accumulate);
        }
        assert!(a.len() >= m * k && c.len() >= m * n, "gemm operands too small");
        let rows = m.div_ceil(threads);
        c[..m * n].par_chunks_mut(rows * n).zip(a[..m * k].par_chunks(rows * k)).for_each(|(c, a)| {
            Gemm { m: c.len() / n, k, n, trans_a, trans_b }.run_small(a, b, c, accumulate);
        });
    }

    /// Like [`Gemm::run_serial`], for a small product made many times over
    /// (a recurrent layer's step): on register tiles where the CPU has them
    /// (a plain right operand), reading both operands in place, where the
    /// `gemm` crate would copy (pack) them at every call.
    pub fn run_small(&self, a: &[f32], b: &[f32], c: &mut [f32], accumulate: bool) {
        let Gemm { m, k, n, trans_a, trans_b } = *self;
        if trans_b || k == 0 || !tile::available() {
            return self.run_serial(a, b, c, accumulate);
        }
        assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n, "gemm operands too small");
        let out = if accumulate { tile::Out::Add } else { tile::Out::Store { bias: None, relu: false } };
        let whole = [tile::Seg { a: 0, b: 0, len: k }];
        // A transposed `a` (`[k, m]`) is read down its columns.
        let (a_row, a_step) = if trans_a { (1, m) } else { (k, 1) };
        for (col, cols) in tile::col_blocks(n) {
            for (row, rows) in tile::runs(m, tile::max_rows(cols)) {
                let t = tile::Tile { rows, cols, a_row, a_step, b_step: n, c_row: n };
                // SAFETY: the CPU runs tiles (checked above), the tile is no
                // larger than the limits, and rows `row..row + rows` of `a`
                // and `c` and columns `col..col + cols` of `b` and `c` lie
                // within the operands (asserted above).
                unsafe { t.run_unchecked(&a[row * a_row..], &b[col..], &whole, &mut c[row * n + col..], out) };
            }
        }
    }

    fn run_on(&self, a: &[f32], b: &[f32], c: &mut [f32], accumulate: bool, threads: usize) {
        let Gemm { m, k, n, trans_a, trans_b } = *self;
        assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n, "gemm operands too small");
        // The `gemm` crate is 2-3x slower on a large transposed right operand
        // (a dense layer's input gradient, `dY · Wᵀ`) than on a plain one;
        // transposing it first costs a small fraction of the product.
        if trans_b && m * n * k >= TRANSPOSE_B_MIN_FLOPS {
            let mut plain = buffer::take(k * n);
            transpose(&b[..k * n], n, k, &mut plain);
            Gemm { trans_b: false, ..*self }.run_on(a, &plain, c, accumulate, threads);
            buffer::give(plain);
            return;
        }
        if m == 0 || n == 0 {
            return;
        }
        if k == 0 {
            if !accumulate {
                c[..m * n].fill(0.0);
            }
            return;
        }
        // (row stride, column stride) of each operand.
        let (a_rs, a_cs) = if trans_a { (1, m as isize) } else { (k as isize, 1) };
        let (b_rs, b_cs) = if trans_b { (1, k as isize) } else { (n as isize, 1) };
        let parallelism = if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
        // SAFETY: the asserts above guarantee every index the strides reach is in bounds.
        unsafe {
            gemm::gemm(
                m, n, k,
                c.as_mut_ptr(), 1, n as isize, accumulate,
                a.as_ptr(), a_cs, a_rs,
                b.as_ptr(), b_cs, b_rs,
                1.0, 1.0, false, false, false,
                parallelism,
            );
        }
    }

    /// The obvious triple loop, for tests.
    pub fn reference(&self, a: &[f32], b: &[f32], c: &mut [f32], accumulate: bool) {
        let Gemm { m, k, n, trans_a, trans_b } = *self;
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0f64;
                for p in 0..k {
                    let av = if trans_a { a[p * m + i] } else { a[i * k + p] };
                    let bv = if trans_b { b[j * k + p] } else { b[p * n + j] };
                    s += av as f64 * bv as f64;
                }
                let out = &mut c[i * n + j];
                *out = if accumulate { *out + s as f32 } else { s as f32 };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn transpose_moves_every_element() {
        // Edges alone, whole 16x16 blocks and edges, and enough to share among threads.
        for (rows, cols) in [(37, 21), (288, 64), (64, 576), (35, 50), (300, 250)] {
            let src: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
            let mut dst = vec![0.0; rows * cols];
            transpose(&src, rows, cols, &mut dst);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(dst[c * rows + r], src[r * cols + c], "{rows} x {cols}");
                }
            }
        }
    }

    #[test]
    fn transpose_sum_adds_the_parts_in_order() {
        // Whole blocks (a convolution's kernel gradient, eight parts), edges alone, and both.
        let mut rng = Rng::new(4);
        for (rows, cols, count) in [(64, 288, 8), (20, 37, 3), (35, 50, 2)] {
            let parts: Vec<Vec<f32>> = (0..count).map(|_| (0..rows * cols).map(|_| rng.normal()).collect()).collect();
            let mut got = vec![f32::NAN; rows * cols];
            transpose_sum(&parts.iter().map(|p| &p[..]).collect::<Vec<_>>(), rows, cols, &mut got);
            let total = crate::kernels::elementwise::add_parts_in_order(parts.clone()).unwrap();
            let mut want = vec![0.0; rows * cols];
            transpose(&total, rows, cols, &mut want);
            assert!(got.iter().zip(&want).all(|(g, w)| g.to_bits() == w.to_bits()), "{rows} x {cols}, {count} parts");
        }
    }

    /// Rows shared among threads give the serial tiles' bits: each output is
    /// one tile's sum over all of `k` whichever rows it runs with.
    #[test]
    fn run_small_parallel_gives_the_serial_bits() {
        let mut rng = Rng::new(4);
        for &(m, k, n) in &[(64, 256, 768), (37, 300, 130), (1, 4096, 512), (64, 0, 16)] {
            for accumulate in [false, true] {
                let a: Vec<f32> = (0..m * k).map(|_| rng.normal()).collect();
                let b: Vec<f32> = (0..k * n).map(|_| rng.normal()).collect();
                let init: Vec<f32> = (0..m * n).map(|_| rng.normal()).collect();
                let g = Gemm { m, k, n, trans_a: false, trans_b: false };
                let (mut serial, mut shared, mut slow) = (init.clone(), init.clone(), init);
                g.run_small(&a, &b, &mut serial, accumulate);
                g.run_small_parallel(&a, &b, &mut shared, accumulate);
                g.reference(&a, &b, &mut slow, accumulate);
                assert!(serial.iter().zip(&shared).all(|(x, y)| x.to_bits() == y.to_bits()), "{m}x{k}x{n}");
                for (x, y) in shared.iter().zip(&slow) {
                    assert!((x - y).abs() <= 1e-3 * (1.0 + y.abs()), "{m}x{k}x{n}: {x} vs {y}");
                }
            }
        }
    }

    #[test]
    fn matches_reference_in_every_layout() {
        let mut rng = Rng::new(1);
        for &(m, k, n) in &[(1, 1, 1), (3, 5, 7), (33, 17, 65), (128, 64, 96), (130, 257, 520)] {
            for trans_a in [false, true] {
                for trans_b in [false, true] {
                    for accumulate in [false, true] {
                        let a: Vec<f32> = (0..m * k).map(|_| rng.normal()).collect();
                        let b: Vec<f32> = (0..k * n).map(|_| rng.normal()).collect();
                        let init: Vec<f32> = (0..m * n).map(|_| rng.normal()).collect();
                        let g = Gemm { m, k, n, trans_a, trans_b };
                        // On tiles where the CPU has them (plain layouts), else `gemm`.
                        let mut small = init.clone();
                        let (mut fast, mut slow) = (init.clone(), init);
                        g.run(&a, &b, &mut fast, accumulate);
                        g.run_small(&a, &b, &mut small, accumulate);
                        g.reference(&a, &b, &mut slow, accumulate);
                        for ((x, s), y) in fast.iter().zip(&small).zip(&slow) {
                            assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "{m}x{k}x{n} {trans_a} {trans_b}: {x} vs {y}");
                            assert!((s - y).abs() <= 1e-4 * (1.0 + y.abs()), "run_small {m}x{k}x{n} {trans_a} {trans_b}: {s} vs {y}");
                        }
                    }
                }
            }
        }
    }
}
