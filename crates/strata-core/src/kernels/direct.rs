//! Direct 2-D convolution over NHWC images on register [tiles](super::tile):
//! the forward pass, the input gradient and the kernel gradient each read the
//! images where they lie, with no im2col matrix.
//!
//! - Forward: a tile is a run of output pixels along one row by up to 64
//!   filters; its reduction is the receptive field, one segment per kernel
//!   row (a kernel row's `kw * c` inputs are contiguous in NHWC, and so are
//!   its weights in a Keras `(kh, kw, c, f)` kernel).
//! - Kernel gradient: a tile is a run of `(kx, c)` kernel rows by up to 64
//!   filters; its reduction runs over every output pixel, one segment per
//!   output row.
//! - Input gradient: each output pixel's gradient is spread back over its
//!   window (`dx[window] += K · dy`), a tile of output pixels at a time.
//!
//! Padding is handled by copying an image into a zero-bordered buffer of the
//! size the windows reach; unpadded images are read in place.

use std::ops::Range;

use super::tile::{self, col_blocks, max_rows, runs, Out, Seg, Tile};
use super::window::Window;

/// Rows and columns of (padded) input that the windows reach.
fn extent(g: &Window) -> (usize, usize) {
    ((g.oh - 1) * g.sh + g.kh, (g.ow - 1) * g.sw + g.kw)
}

/// The images as the windows read them: the input itself when no window
/// leaves it, else a zero-bordered copy. Returns (row count, row width) of each image.
pub fn padded_size(g: &Window) -> (usize, usize) {
    if needs_padding(g) {
        extent(g)
    } else {
        (g.h, g.w)
    }
}

/// Whether some window reaches outside the image.
pub fn needs_padding(g: &Window) -> bool {
    let (eh, ew) = extent(g);
    g.pad_top > 0 || g.pad_left > 0 || eh > g.h || ew > g.w
}

/// Copies the images `x` (each `h * w * c`) into `out` with the zero border of [`padded_size`].
pub fn pad_images(x: &[f32], g: &Window, out: &mut [f32]) {
    let (ph, pw) = padded_size(g);
    let c = g.c;
    out.fill(0.0);
    for (img, dst) in x.chunks_exact(g.image_len()).zip(out.chunks_exact_mut(ph * pw * c)) {
        for iy in 0..g.h.min(ph - g.pad_top) {
            let cols = g.w.min(pw - g.pad_left);
            let d = ((iy + g.pad_top) * pw + g.pad_left) * c;
            dst[d..d + cols * c].copy_from_slice(&img[iy * g.w * c..(iy * g.w + cols) * c]);
        }
    }
}

/// The inverse of [`pad_images`] for gradients: copies the image part of each
/// padded image back, dropping the border.
pub fn crop_images(padded: &[f32], g: &Window, dx: &mut [f32]) {
    let (ph, pw) = padded_size(g);
    let c = g.c;
    dx.fill(0.0);
    for (src, img) in padded.chunks_exact(ph * pw * c).zip(dx.chunks_exact_mut(g.image_len())) {
        for iy in 0..g.h.min(ph - g.pad_top) {
            let cols = g.w.min(pw - g.pad_left);
            let s = ((iy + g.pad_top) * pw + g.pad_left) * c;
            img[iy * g.w * c..(iy * g.w + cols) * c].copy_from_slice(&src[s..s + cols * c]);
        }
    }
}

/// Forward pass of one image: `x` the (padded) image, `kernel` `(kh, kw, c, f)`,
/// `y` its `oh * ow * f` outputs, plus `bias` and relu.
pub fn forward_image(x: &[f32], kernel: &[f32], f: usize, g: &Window, bias: Option<&[f32]>, relu: bool, y: &mut [f32]) {
    forward_rows(x, kernel, f, g, 0..g.oh, bias, relu, y);
}

/// [`forward_image`] for output rows `rows` only; `y` holds those rows.
#[allow(clippy::too_many_arguments)]
pub fn forward_rows(x: &[f32], kernel: &[f32], f: usize, g: &Window, rows: Range<usize>, bias: Option<&[f32]>, relu: bool, y: &mut [f32]) {
    let first = rows.start;
    let (c, (_, pw)) = (g.c, padded_size(g));
    let row_len = g.kw * c;
    // The windows of the last output row and column, the whole kernel and
    // these rows' outputs lie inside their buffers, so every tile below does.
    assert!(tile::available() && rows.start <= rows.end && rows.end <= g.oh && f >= 1, "direct forward: rows {rows:?} of {}", g.oh);
    assert!(rows.is_empty() || ((rows.end - 1) * g.sh + g.kh - 1) * pw * c + ((g.ow - 1) * g.sw + g.kw) * c <= x.len(), "direct forward: image too short");
    assert!(kernel.len() >= g.kh * row_len * f && y.len() >= rows.len() * g.ow * f && bias.is_none_or(|b| b.len() >= f), "direct forward: sizes");
    let mut segs = Vec::with_capacity(g.kh);
    for (f0, cols) in col_blocks(f) {
        let bias = bias.map(|b| &b[f0..]);
        for oy in rows.clone() {
            for (ox0, rows) in runs(g.ow, max_rows(cols)) {
                segs.clear();
                segs.extend((0..g.kh).map(|ky| Seg { a: ((oy * g.sh + ky) * pw + ox0 * g.sw) * c, b: ky * row_len * f + f0, len: row_len }));
                let tile = Tile { rows, cols, a_row: g.sw * c, a_step: 1, b_step: f, c_row: f };
                // SAFETY: the asserts above bound every window, the kernel and the outputs.
                unsafe { tile.run_unchecked(x, kernel, &segs, &mut y[((oy - first) * g.ow + ox0) * f + f0..], Out::Store { bias, relu }) };
            }
        }
    }
}

/// Adds the kernel gradient of a block of images to `dk` (`(kh, kw, c, f)`):
/// `x` the (padded) images, `dy` their `oh * ow * f` output gradients each.
pub fn kernel_grad(x: &[f32], dy: &[f32], f: usize, g: &Window, dk: &mut [f32]) {
    let (c, (ph, pw)) = (g.c, padded_size(g));
    let images = dy.len() / (g.out_pixels() * f);
    let row_len = g.kw * c;
    let segs: Vec<Seg> = (0..images)
        .flat_map(|n| (0..g.oh).map(move |oy| (n, oy)))
        .map(|(n, oy)| Seg { a: (n * ph + oy * g.sh) * pw * c, b: (n * g.oh + oy) * g.ow * f, len: g.ow })
        .collect();
    for (f0, cols) in col_blocks(f) {
        for ky in 0..g.kh {
            for (j0, rows) in runs(row_len, max_rows(cols)) {
                let tile = Tile { rows, cols, a_row: 1, a_step: g.sw * c, b_step: f, c_row: f };
                let a = &x[ky * pw * c + j0..];
                tile.run(a, &dy[f0..], &segs, &mut dk[(ky * row_len + j0) * f + f0..], Out::Add);
            }
        }
    }
}

/// Adds the input gradient of one image to `dx`, its (padded) image of
/// zeros: `dy` the image's output gradient, `kernel_t` the kernel as `(kh, kw, f, c)`.
pub fn input_grad_image(dy: &[f32], kernel_t: &[f32], f: usize, g: &Window, dx: &mut [f32]) {
    let (c, (_, pw)) = (g.c, padded_size(g));
    let segs = [Seg { a: 0, b: 0, len: f }];
    for (c0, cols) in col_blocks(c) {
        for oy in 0..g.oh {
            for (ox0, rows) in runs(g.ow, max_rows(cols)) {
                let tile = Tile { rows, cols, a_row: f, a_step: 1, b_step: c, c_row: g.sw * c };
                for ky in 0..g.kh {
                    for kx in 0..g.kw {
                        let out = &mut dx[((oy * g.sh + ky) * pw + ox0 * g.sw + kx) * c + c0..];
                        tile.run(&dy[(oy * g.ow + ox0) * f..], &kernel_t[(ky * g.kw + kx) * f * c + c0..], &segs, out, Out::Add);
                    }
                }
            }
        }
    }
}

/// `(kh, kw, c, f)` to `(kh, kw, f, c)`.
pub fn transpose_taps(kernel: &[f32], c: usize, f: usize, out: &mut [f32]) {
    for (tap, dst) in kernel.chunks_exact(c * f).zip(out.chunks_exact_mut(c * f)) {
        for ch in 0..c {
            for o in 0..f {
                dst[o * c + ch] = tap[ch * f + o];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::conv::{col2im, conv2d_reference, im2col};
    use crate::kernels::matmul::Gemm;
    use crate::kernels::tile::available;
    use crate::kernels::window::Padding;
    use crate::rng::Rng;

    fn close(a: &[f32], b: &[f32], what: &str) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "{what}[{i}]: {x} vs {y}");
        }
    }

    #[test]
    fn direct_passes_match_im2col() {
        if !available() {
            eprintln!("skipped: this CPU runs no tiles (neither AVX-512 nor AVX2 with FMA)");
            return;
        }
        let mut rng = Rng::new(9);
        for &(h, w, c, kh, kw, s, pad, f) in &[
            (8, 8, 1, 3, 3, 1, Padding::Valid, 32),
            (7, 9, 3, 3, 2, 2, Padding::Same, 5),
            (6, 6, 20, 3, 3, 1, Padding::Same, 70),
            (9, 7, 17, 2, 3, 3, Padding::Valid, 64),
            (5, 5, 130, 1, 1, 1, Padding::Valid, 129),
            (4, 4, 2, 4, 4, 1, Padding::Same, 16),
        ] {
            let n = 3;
            let g = Window::new([n, h, w, c], (kh, kw), (s, s), pad).unwrap();
            let x: Vec<f32> = (0..n * g.image_len()).map(|_| rng.normal()).collect();
            let kernel: Vec<f32> = (0..kh * kw * c * f).map(|_| rng.normal()).collect();
            let bias: Vec<f32> = (0..f).map(|_| rng.normal()).collect();
            let dy: Vec<f32> = (0..n * g.out_pixels() * f).map(|_| rng.normal()).collect();
            let (ph, pw) = padded_size(&g);
            let mut xp = vec![0.0; n * ph * pw * c];
            pad_images(&x, &g, &mut xp);

            // Forward with bias.
            let mut y = vec![0.0; dy.len()];
            for ((xi, yi), _) in xp.chunks(ph * pw * c).zip(y.chunks_mut(g.out_pixels() * f)).zip(0..n) {
                forward_image(xi, &kernel, f, &g, Some(&bias), false, yi);
            }
            let mut expect = conv2d_reference(&x, &kernel, f, &g);
            expect.iter_mut().enumerate().for_each(|(i, v)| *v += bias[i % f]);
            close(&y, &expect, "forward");

            // Kernel gradient = colsᵀ · dy.
            let k = kh * kw * c;
            let mut cols = vec![0.0; n * g.out_pixels() * k];
            im2col(&x, &g, &mut cols);
            let mut expect = vec![0.0; k * f];
            Gemm { m: k, k: n * g.out_pixels(), n: f, trans_a: true, trans_b: false }.reference(&cols, &dy, &mut expect, false);
            let mut dk = vec![0.0; k * f];
            kernel_grad(&xp, &dy, f, &g, &mut dk);
            close(&dk, &expect, "kernel grad");

            // Input gradient = col2im(dy · Kᵀ).
            let mut dcols = vec![0.0; cols.len()];
            Gemm { m: n * g.out_pixels(), k: f, n: k, trans_a: false, trans_b: true }.reference(&dy, &kernel, &mut dcols, false);
            let mut expect = vec![0.0; x.len()];
            col2im(&dcols, &g, &mut expect);
            let mut kt = vec![0.0; kernel.len()];
            transpose_taps(&kernel, c, f, &mut kt);
            let mut dxp = vec![0.0; xp.len()];
            for (dyi, dxi) in dy.chunks(g.out_pixels() * f).zip(dxp.chunks_mut(ph * pw * c)) {
                input_grad_image(dyi, &kt, f, &g, dxi);
            }
            let mut dx = vec![0.0; x.len()];
            crop_images(&dxp, &g, &mut dx);
            close(&dx, &expect, "input grad");
        }
    }
}
