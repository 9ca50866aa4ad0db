//! The forward pass of a 3x3, stride-1 convolution by Winograd's minimal
//! filtering, F(2x2, 3x3) (Lavin and Gray, 2015): each 2x2 block of outputs
//! comes from a 4x4 block of inputs with 16 multiplies per (input, output)
//! channel pair instead of 36, so the matrix products do 2.25x fewer
//! multiply-adds. The transforms only add and subtract; the products run on
//! register [tiles](super::tile), one `[tiles, c] x [c, f]` product for each of
//! the 16 positions of the transformed block.
//!
//! - kernel: `U = G g Gᵀ` for each 3x3 kernel slice `g`,
//! - input: `V = Bᵀ d B` for each 4x4 input block `d`,
//! - output: `Y = Aᵀ (U ⊙ V summed over input channels) A`, a 2x2 block.

use std::ops::Range;

use super::simd::multiversion;
use super::tile::{self, col_blocks, max_rows, runs, Out, Seg, Tile};
use super::window::Window;

/// Positions of a transformed 4x4 block.
const XI: usize = 16;

/// Whether the forward pass of `g` runs here: a 3x3 kernel at stride 1, at
/// least 16 input channels (the products' sums run over them), inputs at
/// least 8x8 (a few blocks per image), on a CPU that runs [tiles](tile::available).
pub fn eligible(g: &Window) -> bool {
    g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && g.c >= 16 && g.h >= 8 && g.w >= 8 && tile::available()
}

/// `U[ξ][c][f]`, the transformed kernel, from a Keras kernel `(3, 3, c, f)`.
///
/// A few channels at a time: their 16 positions are made in a block, then
/// copied out one position's run at a time. Written straight to `u`, one
/// channel's 16 positions go to lines `c * f` floats apart, for the
/// headline's second convolution 8 KiB, all in one set of the first-level
/// cache, which holds 12: on a Zen 5, 2,048 kernels took 6 us that way and
/// take 3.9 this way, on one thread while the others wait.
pub fn transform_kernel(kernel: &[f32], c: usize, f: usize, u: &mut [f32]) {
    assert!(kernel.len() >= 9 * c * f && u.len() >= XI * c * f, "winograd kernel sizes");
    // About 1 KiB of each position's run per block.
    let channels = (256 / f.max(1)).clamp(1, c.max(1));
    let mut block = vec![0.0f32; XI * channels * f];
    for c0 in (0..c).step_by(channels) {
        let n = channels.min(c - c0);
        for b in 0..n {
            transform_channel(kernel, c, f, c0 + b, &mut block[b * f..], channels * f);
        }
        for (ij, run) in block.chunks_exact(channels * f).enumerate() {
            u[(ij * c + c0) * f..][..n * f].copy_from_slice(&run[..n * f]);
        }
    }
}

/// `G g Gᵀ` for input channel `ch` and every filter: position `ξ` of filter
/// `o` to `out[ξ * stride + o]`.
fn transform_channel(kernel: &[f32], c: usize, f: usize, ch: usize, out: &mut [f32], stride: usize) {
    assert!(out.len() >= (XI - 1) * stride + f && stride >= f, "winograd kernel block sizes");
    #[cfg(target_arch = "x86_64")]
    if tile::isa() == Some(tile::Isa::Avx512) {
        // SAFETY: the CPU has AVX-512F; the asserts bound every index.
        return unsafe { avx512::transform_channel(kernel, c, f, ch, out, stride) };
    }
    transform_channel_lanes(kernel, c, f, ch, out, stride);
}

/// Filters one [`transform_channel_lanes`] step takes at once (a vector of the widest instruction set).
const LANES: usize = 16;

multiversion! {
    /// [`transform_channel`], [`LANES`] filters at a time, each as its own
    /// lane: loops over whole arrays of lanes, so the compiler keeps them in
    /// vectors (one lane at a time it ran at scalar speed, 3% of a headline
    /// CNN's training step, spent while the other threads wait).
    fn transform_channel_lanes(kernel: &[f32], c: usize, f: usize, ch: usize, out: &mut [f32], stride: usize) {
        for o0 in (0..f).step_by(LANES) {
            let n = LANES.min(f - o0);
            let mut taps = [[0.0f32; LANES]; 9];
            for (k, tap) in taps.iter_mut().enumerate() {
                tap[..n].copy_from_slice(&kernel[(k * c + ch) * f + o0..][..n]);
            }
            // G g on each column, then the same on each row of the result.
            let mut positions = [[0.0f32; LANES]; XI];
            for l in 0..LANES {
                let columns: [[f32; 4]; 3] = [0, 1, 2].map(|kx| apply_g(taps[kx][l], taps[3 + kx][l], taps[6 + kx][l]));
                for i in 0..4 {
                    let row = apply_g(columns[0][i], columns[1][i], columns[2][i]);
                    (0..4).for_each(|j| positions[i * 4 + j][l] = row[j]);
                }
            }
            for (ij, v) in positions.iter().enumerate() {
                out[ij * stride + o0..][..n].copy_from_slice(&v[..n]);
            }
        }
    }
}

/// Rows g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2 of G applied to three values.
#[inline(always)]
fn apply_g(g0: f32, g1: f32, g2: f32) -> [f32; 4] {
    [g0, 0.5 * (g0 + g1 + g2), 0.5 * (g0 - g1 + g2), g2]
}

/// Scratch space for one image's transformed input and products. Its
/// buffers come from the [pool](crate::buffer) and go back when it is
/// dropped: a fresh one per chunk of images, zeroed, was 1.2 MB of `memset`
/// a headline CNN training step (2.5% of its time on a Zen 5).
#[derive(Default)]
pub struct Scratch {
    v: Vec<f32>,
    m: Vec<f32>,
    zeros: Vec<f32>,
}

impl Scratch {
    /// `buffer` holding at least `len` values, written in full before they are read.
    fn reserve(buffer: &mut Vec<f32>, len: usize) {
        if buffer.len() < len {
            crate::buffer::give(std::mem::replace(buffer, crate::buffer::take(len)));
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        crate::buffer::give(std::mem::take(&mut self.v));
        crate::buffer::give(std::mem::take(&mut self.m));
    }
}

/// One image's convolution: `x` the image as rows of `row_width` pixels
/// (`rows` of them; reads past them are zeros), `u` from [`transform_kernel`],
/// `y` the `g.oh * g.ow * f` outputs, plus `bias` and relu.
#[allow(clippy::too_many_arguments)]
pub fn forward_image(x: &[f32], rows: usize, row_width: usize, g: &Window, u: &[f32], f: usize, bias: Option<&[f32]>, relu: bool, scratch: &mut Scratch, y: &mut [f32]) {
    forward_band(x, rows, row_width, g, u, f, bias, relu, scratch, 0..g.oh.div_ceil(2), y);
}

/// [`forward_image`] for the rows of 2x2 blocks `band` only: output rows
/// `2 * band.start` to `2 * band.end` (or the last), which `y` holds. The
/// values are those of the whole image's pass, whatever the band.
#[allow(clippy::too_many_arguments)]
pub fn forward_band(x: &[f32], rows: usize, row_width: usize, g: &Window, u: &[f32], f: usize, bias: Option<&[f32]>, relu: bool, scratch: &mut Scratch, band: Range<usize>, y: &mut [f32]) {
    let tw = g.ow.div_ceil(2);
    let blocks = products(x, rows, row_width, g, u, f, scratch, band.clone());
    // The band's outputs, as an image of their own rows.
    let out = Window { oh: (2 * band.end).min(g.oh) - 2 * band.start, ..*g };
    assert!(y.len() >= out.out_pixels() * f, "winograd sizes");
    for t in 0..blocks {
        transform_output(&scratch.m, t, blocks, f, bias, relu, (2 * (t / tw), 2 * (t % tw)), &out, y);
    }
}

/// Whether [`forward_band_pooled`] runs on this CPU (on either instruction set of the tiles).
pub fn pools() -> bool {
    tile::available()
}

/// [`forward_band`] with relu, each 2x2 block then max pooled: `y` takes
/// the largest of its four outputs and `arg` its cell (0 to 3, row by row;
/// the first of equals), the same values as
/// [`max_pool_tiles`](super::pool_tiles::max_pool_tiles) over the
/// convolution's, without storing those. `g`'s outputs must be of even size.
#[allow(clippy::too_many_arguments)]
pub fn forward_band_pooled(x: &[f32], rows: usize, row_width: usize, g: &Window, u: &[f32], f: usize, bias: Option<&[f32]>, scratch: &mut Scratch, band: Range<usize>, y: &mut [f32], arg: &mut [u8]) {
    assert!(pools() && g.oh.is_multiple_of(2) && g.ow.is_multiple_of(2), "winograd pooling: {}x{} outputs, or no tiles here", g.oh, g.ow);
    let blocks = products(x, rows, row_width, g, u, f, scratch, band);
    assert!(y.len() >= blocks * f && arg.len() >= blocks * f && bias.is_none_or(|b| b.len() >= f), "winograd pooling sizes");
    for t in 0..blocks {
        let (y, arg) = (y[t * f..].as_mut_ptr(), arg[t * f..].as_mut_ptr());
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has the instruction set (asserted: tiles run on
        // one of the two); block t's products are in `m` (sized by
        // `products`), its outputs at `t * f` in `y` and `arg`.
        unsafe {
            match tile::isa() {
                Some(tile::Isa::Avx512) => avx512::transform_output_pooled(&scratch.m, t, blocks, f, bias, y, arg),
                _ => avx2::transform_output_pooled(&scratch.m, t, blocks, f, bias, y, arg),
            }
        }
    }
}

/// Transforms the band's input blocks and runs the products to
/// `scratch.m`: one `[blocks, c] x [c, f]` product per position of the
/// transformed blocks, on tiles. Returns the number of blocks.
#[allow(clippy::too_many_arguments)]
fn products(x: &[f32], rows: usize, row_width: usize, g: &Window, u: &[f32], f: usize, scratch: &mut Scratch, band: Range<usize>) -> usize {
    assert!(tile::available(), "Winograd's kernels run on tiles, which need AVX-512, or AVX2 and FMA");
    let c = g.c;
    let tw = g.ow.div_ceil(2);
    assert!(band.start < band.end && band.end <= g.oh.div_ceil(2), "winograd band {band:?} of {} block rows", g.oh.div_ceil(2));
    let blocks = band.len() * tw;
    assert!(x.len() >= rows * row_width * c && u.len() >= XI * c * f, "winograd sizes");
    // Every value of `v` and `m` is written below before it is read.
    Scratch::reserve(&mut scratch.v, XI * blocks * c);
    Scratch::reserve(&mut scratch.m, XI * blocks * f);
    scratch.zeros.resize(c, 0.0);
    let zeros = &scratch.zeros;
    for t in 0..blocks {
        // Block t's top-left output pixel, in the band's rows.
        let (by, bx) = (2 * (t / tw), 2 * (t % tw));
        let pixel = |i: usize, j: usize| -> &[f32] {
            let (r, q) = (2 * band.start + by + i, bx + j);
            if r < rows && q < row_width {
                &x[(r * row_width + q) * c..(r * row_width + q + 1) * c]
            } else {
                zeros
            }
        };
        let d: [&[f32]; 16] = std::array::from_fn(|k| pixel(k / 4, k % 4));
        transform_input(&d, &mut scratch.v, t, blocks, c);
    }
    // One product per position of the transformed blocks, `[blocks, c] x [c, f]`,
    // on tiles of at most max_rows x max_cols.
    let segs = [Seg { a: 0, b: 0, len: c }];
    let (v, m) = (&scratch.v[..XI * blocks * c], &mut scratch.m[..XI * blocks * f]);
    for xi in 0..XI {
        for (f0, cols) in col_blocks(f) {
            for (t0, count) in runs(blocks, max_rows(cols)) {
                let tile = Tile { rows: count, cols, a_row: c, a_step: 1, b_step: f, c_row: f };
                let (a, b) = (&v[(xi * blocks + t0) * c..], &u[xi * c * f + f0..]);
                // SAFETY: tiles run here (asserted above), the tile is at most
                // max_rows x max_cols, and it reads rows t0..t0 + count of this
                // position's `blocks x c` inputs and columns f0..f0 + cols of its
                // `c x f` kernel, and writes the same rows and columns of its
                // `blocks x f` products: all inside `v`, `u` and `m` (sizes asserted above).
                unsafe { tile.run_unchecked(a, b, &segs, &mut m[(xi * blocks + t0) * f + f0..], Out::Store { bias: None, relu: false }) };
            }
        }
    }
    blocks
}

/// `V = Bᵀ d B` for block `t`, every channel: `d[4 i + j]` is the input pixel (i, j).
fn transform_input(d: &[&[f32]; 16], v: &mut [f32], t: usize, blocks: usize, c: usize) {
    assert!(d.iter().all(|p| p.len() >= c) && v.len() >= XI * blocks * c && t < blocks, "winograd input sizes");
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the CPU has the instruction set the tiles run on (callers
    // check `tile::available()`); the assert bounds every index.
    unsafe {
        match tile::isa() {
            Some(tile::Isa::Avx512) => avx512::transform_input(d, v, t, blocks, c),
            _ => avx2::transform_input(d, v, t, blocks, c),
        }
    }
}

/// `Y = Aᵀ M A` for block `t` at output pixel `origin`, plus bias and relu;
/// outputs past the image's edge are dropped.
#[allow(clippy::too_many_arguments)]
fn transform_output(m: &[f32], t: usize, blocks: usize, f: usize, bias: Option<&[f32]>, relu: bool, origin: (usize, usize), g: &Window, y: &mut [f32]) {
    assert!(m.len() >= XI * blocks * f && t < blocks && bias.is_none_or(|b| b.len() >= f), "winograd output sizes");
    assert!(origin.0 < g.oh && origin.1 < g.ow && y.len() >= g.out_pixels() * f, "winograd output block");
    #[cfg(target_arch = "x86_64")]
    // SAFETY: as above.
    unsafe {
        match tile::isa() {
            Some(tile::Isa::Avx512) => avx512::transform_output(m, t, blocks, f, bias, relu, origin, g, y),
            _ => avx2::transform_output(m, t, blocks, f, bias, relu, origin, g, y),
        }
    }
}

/// The transforms with AVX2 (8 channels at a time), as the AVX-512 ones.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::Window;
    use crate::kernels::pool_tiles::{cells_as_bytes, keep_larger_avx2};

    /// The lanes of the 8 channels from `c0` that exist.
    #[target_feature(enable = "avx2")]
    fn mask(len: usize, c0: usize) -> __m256i {
        crate::kernels::simd::lane_mask8(len - c0)
    }

    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn transform_input(d: &[&[f32]; 16], v: &mut [f32], t: usize, blocks: usize, c: usize) {
        let v = v.as_mut_ptr();
        for c0 in (0..c).step_by(8) {
            let (whole, k) = (c - c0 >= 8, mask(c, c0));
            let load = |p: *const f32| if whole { _mm256_loadu_ps(p) } else { _mm256_maskload_ps(p, k) };
            let p: [__m256; 16] = std::array::from_fn(|i| load(d[i].as_ptr().add(c0)));
            // Bᵀ d: rows d0 - d2, d1 + d2, d2 - d1, d1 - d3, on each column j ...
            let mut bd = [[_mm256_setzero_ps(); 4]; 4];
            for j in 0..4 {
                let (d0, d1, d2, d3) = (p[j], p[4 + j], p[8 + j], p[12 + j]);
                bd[0][j] = _mm256_sub_ps(d0, d2);
                bd[1][j] = _mm256_add_ps(d1, d2);
                bd[2][j] = _mm256_sub_ps(d2, d1);
                bd[3][j] = _mm256_sub_ps(d1, d3);
            }
            // ... then on each row i.
            for (i, &[d0, d1, d2, d3]) in bd.iter().enumerate() {
                let out = [_mm256_sub_ps(d0, d2), _mm256_add_ps(d1, d2), _mm256_sub_ps(d2, d1), _mm256_sub_ps(d1, d3)];
                for (j, value) in out.into_iter().enumerate() {
                    let at = v.add(((i * 4 + j) * blocks + t) * c + c0);
                    if whole { _mm256_storeu_ps(at, value) } else { _mm256_maskstore_ps(at, k, value) }
                }
            }
        }
    }

    #[target_feature(enable = "avx2")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn transform_output(m: &[f32], t: usize, blocks: usize, f: usize, bias: Option<&[f32]>, relu: bool, origin: (usize, usize), g: &Window, y: &mut [f32]) {
        let (oy, ox) = origin;
        let (rows, cols) = (2.min(g.oh - oy), 2.min(g.ow - ox));
        let y = y.as_mut_ptr();
        for o0 in (0..f).step_by(8) {
            let (whole, k) = (f - o0 >= 8, mask(f, o0));
            let out = block_outputs(m.as_ptr(), t, blocks, f, o0, bias);
            for (i, out) in out.iter().enumerate().take(rows) {
                for (j, &value) in out.iter().enumerate().take(cols) {
                    let value = if relu { _mm256_max_ps(value, _mm256_setzero_ps()) } else { value };
                    let at = y.add(((oy + i) * g.ow + ox + j) * f + o0);
                    if whole { _mm256_storeu_ps(at, value) } else { _mm256_maskstore_ps(at, k, value) }
                }
            }
        }
    }

    /// Block `t`'s four outputs (`[row][column]`) in the 8 channels from
    /// `o0`, plus bias: `Aᵀ M A` of its products in `m`.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn block_outputs(m: *const f32, t: usize, blocks: usize, f: usize, o0: usize, bias: Option<&[f32]>) -> [[__m256; 2]; 2] {
        let (whole, k) = (f - o0 >= 8, mask(f, o0));
        let load = |p: *const f32| if whole { _mm256_loadu_ps(p) } else { _mm256_maskload_ps(p, k) };
        let p: [__m256; 16] = std::array::from_fn(|i| load(m.add((i * blocks + t) * f + o0)));
        let b = match bias {
            Some(b) => load(b.as_ptr().add(o0)),
            None => _mm256_setzero_ps(),
        };
        // Aᵀ M: rows m0 + m1 + m2, m1 - m2 - m3, on each column j ...
        let mut am = [[_mm256_setzero_ps(); 4]; 2];
        for j in 0..4 {
            let (m0, m1, m2, m3) = (p[j], p[4 + j], p[8 + j], p[12 + j]);
            am[0][j] = _mm256_add_ps(_mm256_add_ps(m0, m1), m2);
            am[1][j] = _mm256_sub_ps(_mm256_sub_ps(m1, m2), m3);
        }
        // ... then on each row i, plus bias.
        am.map(|[m0, m1, m2, m3]| [_mm256_add_ps(_mm256_add_ps(_mm256_add_ps(m0, m1), m2), b), _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(m1, m2), m3), b)])
    }

    /// [`super::forward_band_pooled`]'s outputs of block `t`: relu, then its
    /// maximum and cell, cell by cell through the AVX2 pooling kernel's own
    /// step ([`keep_larger_avx2`]), so the same values.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn transform_output_pooled(m: &[f32], t: usize, blocks: usize, f: usize, bias: Option<&[f32]>, y: *mut f32, arg: *mut u8) {
        for o0 in (0..f).step_by(8) {
            let (n, k) = ((f - o0).min(8), mask(f, o0));
            let out = block_outputs(m.as_ptr(), t, blocks, f, o0, bias);
            let relu = |v: __m256| _mm256_max_ps(v, _mm256_setzero_ps());
            let (mut best, mut cell) = (relu(out[0][0]), _mm256_setzero_si256());
            for c in 1..4 {
                (best, cell) = keep_larger_avx2(best, cell, relu(out[c / 2][c % 2]), c);
            }
            _mm256_maskstore_ps(y.add(o0), k, best);
            let mut bytes = [0u8; 16];
            _mm_storeu_si128(bytes.as_mut_ptr().cast(), cells_as_bytes([cell, cell]));
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), arg.add(o0), n);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::Window;
    use crate::kernels::pool_tiles::keep_larger;

    /// `Aᵀ M A` of block `t`, 16 filters from `o0` (lanes `k`), plus
    /// `bias`: the block's four outputs, row by row.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn block_outputs(m: *const f32, t: usize, blocks: usize, f: usize, o0: usize, k: __mmask16, bias: Option<&[f32]>) -> [[__m512; 2]; 2] {
        let p: [__m512; 16] = std::array::from_fn(|i| _mm512_maskz_loadu_ps(k, m.add((i * blocks + t) * f + o0)));
        let b = match bias {
            Some(b) => _mm512_maskz_loadu_ps(k, b.as_ptr().add(o0)),
            None => _mm512_setzero_ps(),
        };
        // Aᵀ M: rows m0 + m1 + m2, m1 - m2 - m3, on each column j ...
        let mut am = [[_mm512_setzero_ps(); 4]; 2];
        for j in 0..4 {
            let (m0, m1, m2, m3) = (p[j], p[4 + j], p[8 + j], p[12 + j]);
            am[0][j] = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
            am[1][j] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
        }
        // ... then on each row i, plus bias.
        am.map(|[m0, m1, m2, m3]| [_mm512_add_ps(_mm512_add_ps(_mm512_add_ps(m0, m1), m2), b), _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(m1, m2), m3), b)])
    }

    /// Block `t`'s outputs after relu, max pooled: the largest to `y`, its
    /// cell to `arg` (`f` of each), cell by cell through the pooling
    /// kernel's own step ([`keep_larger`]), so the same values.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn transform_output_pooled(m: &[f32], t: usize, blocks: usize, f: usize, bias: Option<&[f32]>, y: *mut f32, arg: *mut u8) {
        for o0 in (0..f).step_by(16) {
            let k = mask(f, o0);
            let out = block_outputs(m.as_ptr(), t, blocks, f, o0, k, bias);
            let relu = |v: __m512| _mm512_max_ps(v, _mm512_setzero_ps());
            let (mut best, mut cell) = (relu(out[0][0]), _mm512_setzero_si512());
            for c in 1..4 {
                (best, cell) = keep_larger(best, cell, relu(out[c / 2][c % 2]), c);
            }
            _mm512_mask_storeu_ps(y.add(o0), k, best);
            _mm512_mask_cvtepi32_storeu_epi8(arg.add(o0).cast(), k, cell);
        }
    }

    /// [`super::transform_channel`], 16 filters a vector.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn transform_channel(kernel: &[f32], c: usize, f: usize, ch: usize, out: &mut [f32], stride: usize) {
        let (from, to) = (kernel.as_ptr(), out.as_mut_ptr());
        for o0 in (0..f).step_by(16) {
            let k = mask(f, o0);
            let tap = |t: usize| _mm512_maskz_loadu_ps(k, from.add((t * c + ch) * f + o0));
            let mut columns = [[_mm512_setzero_ps(); 4]; 3];
            for (kx, column) in columns.iter_mut().enumerate() {
                *column = apply_g([tap(kx), tap(3 + kx), tap(6 + kx)]);
            }
            for i in 0..4 {
                let row = apply_g(columns.map(|column| column[i]));
                for (j, &v) in row.iter().enumerate() {
                    _mm512_mask_storeu_ps(to.add((i * 4 + j) * stride + o0), k, v);
                }
            }
        }
    }

    /// [`super::apply_g`] on 16 lanes, its operations in the same order.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn apply_g([g0, g1, g2]: [__m512; 3]) -> [__m512; 4] {
        let half = _mm512_set1_ps(0.5);
        let odd = _mm512_mul_ps(half, _mm512_add_ps(_mm512_add_ps(g0, g1), g2));
        let even = _mm512_mul_ps(half, _mm512_add_ps(_mm512_sub_ps(g0, g1), g2));
        [g0, odd, even, g2]
    }

    /// The lanes of the 16 channels from `c0` that exist.
    fn mask(len: usize, c0: usize) -> __mmask16 {
        crate::kernels::simd::lane_mask(len - c0)
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn transform_input(d: &[&[f32]; 16], v: &mut [f32], t: usize, blocks: usize, c: usize) {
        let v = v.as_mut_ptr();
        for c0 in (0..c).step_by(16) {
            let k = mask(c, c0);
            let p: [__m512; 16] = std::array::from_fn(|i| _mm512_maskz_loadu_ps(k, d[i].as_ptr().add(c0)));
            // Bᵀ d: rows d0 - d2, d1 + d2, d2 - d1, d1 - d3, on each column j ...
            let mut bd = [[_mm512_setzero_ps(); 4]; 4];
            for j in 0..4 {
                let (d0, d1, d2, d3) = (p[j], p[4 + j], p[8 + j], p[12 + j]);
                bd[0][j] = _mm512_sub_ps(d0, d2);
                bd[1][j] = _mm512_add_ps(d1, d2);
                bd[2][j] = _mm512_sub_ps(d2, d1);
                bd[3][j] = _mm512_sub_ps(d1, d3);
            }
            // ... then on each row i.
            for (i, &[d0, d1, d2, d3]) in bd.iter().enumerate() {
                let out = [_mm512_sub_ps(d0, d2), _mm512_add_ps(d1, d2), _mm512_sub_ps(d2, d1), _mm512_sub_ps(d1, d3)];
                for (j, value) in out.into_iter().enumerate() {
                    _mm512_mask_storeu_ps(v.add(((i * 4 + j) * blocks + t) * c + c0), k, value);
                }
            }
        }
    }

    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn transform_output(m: &[f32], t: usize, blocks: usize, f: usize, bias: Option<&[f32]>, relu: bool, origin: (usize, usize), g: &Window, y: &mut [f32]) {
        let (oy, ox) = origin;
        let (rows, cols) = (2.min(g.oh - oy), 2.min(g.ow - ox));
        let y = y.as_mut_ptr();
        for o0 in (0..f).step_by(16) {
            let k = mask(f, o0);
            for (i, out) in block_outputs(m.as_ptr(), t, blocks, f, o0, k, bias).iter().enumerate().take(rows) {
                for (j, &value) in out.iter().enumerate().take(cols) {
                    let value = if relu { _mm512_max_ps(value, _mm512_setzero_ps()) } else { value };
                    _mm512_mask_storeu_ps(y.add(((oy + i) * g.ow + ox + j) * f + o0), k, value);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::conv::conv2d_reference;
    use crate::kernels::window::Padding;
    use crate::rng::Rng;

    #[test]
    fn matches_direct_convolution() {
        if !tile::available() {
            eprintln!("skipped: this CPU runs no tiles (neither AVX-512 nor AVX2 with FMA)");
            return;
        }
        let mut rng = Rng::new(12);
        for (h, w, c, f) in [(13, 13, 32, 64), (8, 9, 16, 5), (10, 8, 20, 70)] {
            let g = Window::new([1, h, w, c], (3, 3), (1, 1), Padding::Valid).unwrap();
            assert!(eligible(&g));
            let x: Vec<f32> = (0..h * w * c).map(|_| rng.normal()).collect();
            let kernel: Vec<f32> = (0..9 * c * f).map(|_| rng.normal()).collect();
            let bias: Vec<f32> = (0..f).map(|_| rng.normal()).collect();
            let mut u = vec![0.0; XI * c * f];
            transform_kernel(&kernel, c, f, &mut u);
            let mut y = vec![0.0; g.out_pixels() * f];
            forward_image(&x, h, w, &g, &u, f, Some(&bias), false, &mut Scratch::default(), &mut y);
            let expect = conv2d_reference(&x, &kernel, f, &g);
            for (i, (a, e)) in y.iter().zip(&expect).enumerate() {
                let e = e + bias[i % f];
                assert!((a - e).abs() <= 1e-4 * (1.0 + e.abs()), "{h}x{w}x{c}->{f} [{i}]: {a} vs {e}");
            }
        }
    }

    #[test]
    fn transforms_the_kernel_as_g_g_gt() {
        // Filter counts around the lanes of one step: whole, partial, more than one.
        let mut rng = Rng::new(5);
        for (c, f) in [(3, 16), (2, 5), (4, 37)] {
            let kernel: Vec<f32> = (0..9 * c * f).map(|_| rng.normal()).collect();
            let mut u = vec![f32::NAN; XI * c * f];
            transform_kernel(&kernel, c, f, &mut u);
            // Rows g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2 of G, in that order of operations.
            let apply = |g: [f32; 3]| [g[0], 0.5 * (g[0] + g[1] + g[2]), 0.5 * (g[0] - g[1] + g[2]), g[2]];
            for (ch, o) in (0..c).flat_map(|ch| (0..f).map(move |o| (ch, o))) {
                let tap = |ky: usize, kx: usize| kernel[((ky * 3 + kx) * c + ch) * f + o];
                let columns = [0, 1, 2].map(|kx| apply([tap(0, kx), tap(1, kx), tap(2, kx)]));
                for (i, j) in (0..4).flat_map(|i| (0..4).map(move |j| (i, j))) {
                    let expect = apply([columns[0][i], columns[1][i], columns[2][i]])[j];
                    assert_eq!(u[((i * 4 + j) * c + ch) * f + o].to_bits(), expect.to_bits(), "c {c} f {f}: U[{i}][{j}][{ch}][{o}]");
                }
            }
        }
    }

    #[test]
    fn pools_as_the_pooling_kernel_does() {
        if !pools() {
            eprintln!("skipped: pooling in place needs the tiles (AVX-512, or AVX2 and FMA)");
            return;
        }
        let mut rng = Rng::new(13);
        let (h, c, f) = (13, 32, 20);
        let g = Window { oh: 10, ow: 10, ..Window::new([1, h, h, c], (3, 3), (1, 1), Padding::Valid).unwrap() };
        // Rounded inputs and kernels: ties between a block's outputs (and relu's zeros) happen.
        let x: Vec<f32> = (0..h * h * c).map(|_| (rng.normal() * 2.0).round()).collect();
        let kernel: Vec<f32> = (0..9 * c * f).map(|_| (rng.normal() * 2.0).round()).collect();
        let bias: Vec<f32> = (0..f).map(|_| rng.normal()).collect();
        let mut u = vec![0.0; XI * c * f];
        transform_kernel(&kernel, c, f, &mut u);
        let mut conv = vec![0.0; g.out_pixels() * f];
        forward_image(&x, h, h, &g, &u, f, Some(&bias), true, &mut Scratch::default(), &mut conv);
        let pool = Window::new([1, 10, 10, f], (2, 2), (2, 2), Padding::Valid).unwrap();
        let (mut want, mut want_arg) = (vec![0.0; 25 * f], vec![0u8; 25 * f]);
        crate::kernels::pool_tiles::max_pool_tiles(&conv, &pool, &mut want, &mut want_arg);
        for band in [0..5, 1..3] {
            let n = band.len() * 5 * f;
            let (mut got, mut arg) = (vec![0.0; n], vec![9u8; n]);
            forward_band_pooled(&x, h, h, &g, &u, f, Some(&bias), &mut Scratch::default(), band.clone(), &mut got, &mut arg);
            let o = band.start * 5 * f..band.end * 5 * f;
            assert_eq!(got, want[o.clone()], "band {band:?}: values");
            assert_eq!(arg, want_arg[o], "band {band:?}: cells");
        }
    }
}
