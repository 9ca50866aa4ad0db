//! Max pooling over windows that tile an image exactly (pool size = strides,
//! `valid`, the image cropped to whole windows), keeping each maximum's
//! position: the pooling half of the fused convolution + relu + pooling op.
//! One image at a time, so a convolution's output can be pooled while it is in cache.
//! AVX-512 or AVX2 intrinsics, as the convolution tiles run; the backward
//! pass with AVX2 as plain loops over the channels that `multiversion!`
//! compiles for the CPU.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

#[cfg(target_arch = "x86_64")]
use super::simd::{lane_mask, lane_mask8};
use super::simd::multiversion;
use super::window::Window;

/// Checks the sizes every index below relies on.
fn check(x_len: usize, out_len: usize, g: &Window) {
    let tiles = g.kh >= 1 && g.kw >= 1 && g.sh == g.kh && g.sw == g.kw && g.kh * g.kw <= 256;
    assert!(tiles && g.h >= g.oh * g.kh && g.w >= g.ow * g.kw, "pool tiles: bad window {g:?}");
    assert!(x_len >= g.h * g.w * g.c && out_len >= g.out_pixels() * g.c, "pool tiles: buffers too small");
}

/// Whether the AVX-512 versions run (else the AVX2 ones; the backward pass's
/// loops, vectorised for the CPU by `multiversion!`).
fn avx512() -> bool {
    super::tile::isa() == Some(super::tile::Isa::Avx512)
}

/// Writes each window's maximum to `y` and its position in the window
/// (row-major, the first of equal maxima) to `arg`. `x` holds `g.h * g.w * g.c`
/// values; the windows cover its first `g.oh * g.kh` rows and `g.ow * g.kw` columns.
pub fn max_pool_tiles(x: &[f32], g: &Window, y: &mut [f32], arg: &mut [u8]) {
    check(x.len(), y.len().min(arg.len()), g);
    assert!(super::tile::available(), "pool tiles run where convolution tiles do (AVX-512, or AVX2 and FMA)");
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `check` bounds every index; the CPU has the instruction set used.
    unsafe {
        match avx512() {
            true => pool_avx512(x.as_ptr(), g, y.as_mut_ptr(), arg.as_mut_ptr()),
            false => pool_avx2(x.as_ptr(), g, y.as_mut_ptr(), arg.as_mut_ptr()),
        }
    }
}

/// The gradient of relu followed by [`max_pool_tiles`]: each window's
/// gradient `dy` goes to its maximum's position when the maximum `y` is
/// positive (relu passed it); every other element the windows cover gets zero.
pub fn max_pool_tiles_relu_backward(dy: &[f32], y: &[f32], arg: &[u8], g: &Window, dx: &mut [f32]) {
    check(dx.len(), dy.len().min(y.len()).min(arg.len()), g);
    #[cfg(target_arch = "x86_64")]
    if avx512() {
        // SAFETY: as above.
        return unsafe { unpool_avx512(dy.as_ptr(), y.as_ptr(), arg.as_ptr(), g, dx.as_mut_ptr()) };
    }
    unpool_lanes(dy, y, arg, g, dx);
}

/// Channels the backward loops take at a time (one AVX2 vector).
const L: usize = 8;

multiversion! {
    /// [`max_pool_tiles_relu_backward`] as loops over lanes of channels.
    fn unpool_lanes(dy: &[f32], y: &[f32], arg: &[u8], g: &Window, dx: &mut [f32]) {
        let c = g.c;
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let o = (oy * g.ow + ox) * c;
                for c0 in (0..c).step_by(L) {
                    let n = (c - c0).min(L);
                    let (dy, y, arg) = (&dy[o + c0..][..n], &y[o + c0..][..n], &arg[o + c0..][..n]);
                    for k in 0..g.kh * g.kw {
                        let dx = &mut dx[at(g, oy, ox, k / g.kw, k % g.kw) + c0..][..n];
                        for (((d, &dy), &y), &a) in dx.iter_mut().zip(dy).zip(y).zip(arg) {
                            *d = if y > 0.0 && a as usize == k { dy } else { 0.0 };
                        }
                    }
                }
            }
        }
    }
}

/// Offset of position `k` of window `(oy, ox)`, channel 0.
fn at(g: &Window, oy: usize, ox: usize, ky: usize, kx: usize) -> usize {
    ((oy * g.kh + ky) * g.w + ox * g.kw + kx) * g.c
}

/// One step of a running maximum over a pooling window's cells, 16 lanes at
/// a time: where `v` is greater than `best` (a NaN never is, so the first of
/// equal values, and a NaN already held, stay), `v` and `cell` take their
/// places in `best` and `pos`. Every AVX-512 path that pools (this kernel,
/// Winograd's blocks, a first layer's windows) steps through this one, so
/// their maxima and cells agree bit for bit.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn keep_larger(best: __m512, pos: __m512i, v: __m512, cell: usize) -> (__m512, __m512i) {
    let more = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, best);
    (_mm512_mask_mov_ps(best, more, v), _mm512_mask_mov_epi32(pos, more, _mm512_set1_epi32(cell as i32)))
}

/// [`keep_larger`] on AVX2's 8 lanes. Every AVX2 path that pools (this
/// kernel, Winograd's blocks, a first layer's windows) steps through this
/// one, as the AVX-512 paths through that one.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) fn keep_larger_avx2(best: __m256, pos: __m256i, v: __m256, cell: usize) -> (__m256, __m256i) {
    let more = _mm256_cmp_ps::<_CMP_GT_OQ>(v, best);
    (_mm256_blendv_ps(best, v, more), _mm256_blendv_epi8(pos, _mm256_set1_epi32(cell as i32), _mm256_castps_si256(more)))
}

/// The cells of 16 lanes (8 a vector, each below 256) as bytes, in order:
/// what an AVX2 path that pools stores in `arg`.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) fn cells_as_bytes(cells: [__m256i; 2]) -> __m128i {
    let [a, b] = cells.map(|c| _mm_packs_epi32(_mm256_castsi256_si128(c), _mm256_extracti128_si256::<1>(c)));
    _mm_packus_epi16(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn pool_avx512(x: *const f32, g: &Window, y: *mut f32, arg: *mut u8) {
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let o = (oy * g.ow + ox) * g.c;
            for c0 in (0..g.c).step_by(16) {
                let m = lane_mask(g.c - c0);
                let mut best = _mm512_maskz_loadu_ps(m, x.add(at(g, oy, ox, 0, 0) + c0));
                let mut pos = _mm512_setzero_si512();
                for k in 1..g.kh * g.kw {
                    let v = _mm512_maskz_loadu_ps(m, x.add(at(g, oy, ox, k / g.kw, k % g.kw) + c0));
                    (best, pos) = keep_larger(best, pos, v, k);
                }
                _mm512_mask_storeu_ps(y.add(o + c0), m, best);
                _mm512_mask_cvtepi32_storeu_epi8(arg.add(o + c0) as *mut _, m, pos);
            }
        }
    }
}

/// [`pool_avx512`] with AVX2: 8 channels at a time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn pool_avx2(x: *const f32, g: &Window, y: *mut f32, arg: *mut u8) {
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let o = (oy * g.ow + ox) * g.c;
            for c0 in (0..g.c).step_by(8) {
                let n = (g.c - c0).min(8);
                let m = lane_mask8(n);
                let load = |p: *const f32| if n == 8 { _mm256_loadu_ps(p) } else { _mm256_maskload_ps(p, m) };
                let mut best = load(x.add(at(g, oy, ox, 0, 0) + c0));
                let mut pos = _mm256_setzero_si256();
                for k in 1..g.kh * g.kw {
                    let v = load(x.add(at(g, oy, ox, k / g.kw, k % g.kw) + c0));
                    (best, pos) = keep_larger_avx2(best, pos, v, k);
                }
                if n == 8 {
                    _mm256_storeu_ps(y.add(o + c0), best);
                } else {
                    _mm256_maskstore_ps(y.add(o + c0), m, best);
                }
                let mut bytes = [0u8; 16];
                _mm_storeu_si128(bytes.as_mut_ptr().cast(), cells_as_bytes([pos, pos]));
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), arg.add(o + c0), n);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn unpool_avx512(dy: *const f32, y: *const f32, arg: *const u8, g: &Window, dx: *mut f32) {
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let o = (oy * g.ow + ox) * g.c;
            for c0 in (0..g.c).step_by(16) {
                let m = lane_mask(g.c - c0);
                let passed = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(_mm512_maskz_loadu_ps(m, y.add(o + c0)), _mm512_setzero_ps());
                let grad = _mm512_maskz_loadu_ps(passed, dy.add(o + c0));
                let mut bytes = [0u8; 16];
                std::ptr::copy_nonoverlapping(arg.add(o + c0), bytes.as_mut_ptr(), (g.c - c0).min(16));
                let pos = _mm512_cvtepu8_epi32(_mm_loadu_si128(bytes.as_ptr() as *const _));
                for ky in 0..g.kh {
                    for kx in 0..g.kw {
                        let hit = _mm512_cmpeq_epi32_mask(pos, _mm512_set1_epi32((ky * g.kw + kx) as i32));
                        _mm512_mask_storeu_ps(dx.add(at(g, oy, ox, ky, kx) + c0), m, _mm512_maskz_mov_ps(hit, grad));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::pool::{max_pool2d, max_pool2d_backward};
    use crate::kernels::window::Padding;
    use crate::rng::Rng;

    #[test]
    fn matches_relu_then_max_pool() {
        if !crate::kernels::tile::available() {
            eprintln!("skipped: this CPU runs no tiles (neither AVX-512 nor AVX2 with FMA)");
            return;
        }
        let mut rng = Rng::new(4);
        for (h, w, c, k) in [(4, 6, 3, (2, 2)), (6, 6, 17, (3, 2)), (2, 2, 40, (2, 2)), (4, 6, 16, (2, 3))] {
            let g = Window::new([1, h, w, c], k, k, Padding::Valid).unwrap();
            // Rounded values make ties (and relu zeros) common.
            let x: Vec<f32> = (0..h * w * c).map(|_| (rng.normal() * 2.0).round().max(0.0)).collect();
            let dy: Vec<f32> = (0..g.out_pixels() * c).map(|_| rng.normal()).collect();
            let (mut y, mut arg) = (vec![0.0; dy.len()], vec![0u8; dy.len()]);
            max_pool_tiles(&x, &g, &mut y, &mut arg);
            let mut expect = vec![0.0; dy.len()];
            max_pool2d(&x, &g, &mut expect);
            assert_eq!(y, expect);
            let mut dx = vec![1.0; x.len()];
            max_pool_tiles_relu_backward(&dy, &y, &arg, &g, &mut dx);
            let mut expect = vec![0.0; x.len()];
            max_pool2d_backward(&x, &y, &dy, &g, &mut expect);
            expect.iter_mut().zip(&x).for_each(|(d, &v)| *d = if v > 0.0 { *d } else { 0.0 });
            assert_eq!(dx, expect);
        }
    }
}
