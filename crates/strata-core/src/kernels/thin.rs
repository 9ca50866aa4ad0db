//! Convolution with few filters, straight from the images (no im2col
//! matrix): each filter's kernel row is one contiguous run of `kw * c`
//! values, read against the same run of an image row. Images are NHWC, the
//! kernel `(kh, kw, c, f)` is first laid out by filter ([`by_filter`]).

use std::ops::Range;

use super::simd::multiversion;
use super::window::Window;

/// `Σ a·b` with 32 running sums (four AVX vectors), added in a fixed order.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 32];
    let (ca, cb) = (a.chunks_exact(32), b.chunks_exact(32));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..32 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `y += s·x`.
#[inline(always)]
fn axpy(y: &mut [f32], s: f32, x: &[f32]) {
    y.iter_mut().zip(x).for_each(|(y, x)| *y += s * x);
}

/// The kernel `(kh, kw, c, f)` as `(f, kh, kw, c)`: each filter's rows contiguous.
pub fn by_filter(kernel: &[f32], g: &Window, f: usize) -> Vec<f32> {
    let taps = g.kh * g.kw * g.c;
    (0..f).flat_map(|fi| (0..taps).map(move |t| kernel[t * f + fi])).collect()
}

/// For output column `ox`: the first kernel column whose input column is in
/// the image, that input column, and how many consecutive columns are.
#[inline(always)]
fn columns(g: &Window, ox: usize) -> (usize, usize, usize) {
    let start = (ox * g.sw) as isize - g.pad_left as isize;
    let kx0 = (-start).max(0) as usize;
    let end = (start + g.kw as isize).min(g.w as isize);
    let len = (end - (start + kx0 as isize)).max(0) as usize;
    (kx0, (start + kx0 as isize) as usize, len)
}

/// Calls `visit(output, image run, kernel run)` for every output value
/// (pixel and filter) and kernel row that lies inside the image: the index
/// of the output value, and the ranges of the image row and of the
/// by-filter kernel row that meet there (of equal length).
#[inline(always)]
fn for_each_run(g: &Window, f: usize, mut visit: impl FnMut(usize, Range<usize>, Range<usize>)) {
    let (c, row) = (g.c, g.kw * g.c);
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let (kx0, ix0, len) = columns(g, ox);
            for fi in 0..f {
                for ky in 0..g.kh {
                    let Some(iy) = g.in_row(oy, ky) else { continue };
                    let (image, kernel) = ((iy * g.w + ix0) * c, fi * g.kh * row + ky * row + kx0 * c);
                    visit((oy * g.ow + ox) * f + fi, image..image + len * c, kernel..kernel + len * c);
                }
            }
        }
    }
}

multiversion! {
    /// One image's output `[oh, ow, f]` (overwritten), bias included.
    pub fn forward_image(x: &[f32], kt: &[f32], bias: &[f32], g: &Window, f: usize, out: &mut [f32]) {
        out.chunks_exact_mut(f).for_each(|o| o.iter_mut().enumerate().for_each(|(fi, v)| *v = bias.get(fi).copied().unwrap_or(0.0)));
        for_each_run(g, f, |o, image, kernel| out[o] += dot(&x[image], &kt[kernel]));
    }
}

multiversion! {
    /// One image's input gradient (`dx` overwritten) from its output gradient.
    pub fn input_grad_image(dy: &[f32], kt: &[f32], g: &Window, f: usize, dx: &mut [f32]) {
        dx.fill(0.0);
        for_each_run(g, f, |o, image, kernel| axpy(&mut dx[image], dy[o], &kt[kernel]));
    }
}

multiversion! {
    /// Adds one image's kernel gradient, laid out as `by_filter`, to `dk`.
    pub fn kernel_grad_image(x: &[f32], dy: &[f32], g: &Window, f: usize, dk: &mut [f32]) {
        for_each_run(g, f, |o, image, kernel| axpy(&mut dk[kernel], dy[o], &x[image]));
    }
}
