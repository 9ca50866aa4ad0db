//! 2-D convolution over NHWC images by im2col + matrix multiply.
//!
//! `im2col` lays each output pixel's receptive field out as one row of
//! `K = kh * kw * c` values, ordered (ky, kx, channel) to match a Keras kernel
//! `(kh, kw, in, out)` read as a `[K, out]` matrix. The convolution is then one
//! GEMM `[n * oh * ow, K] x [K, out]`; its input gradient goes back through
//! `col2im`, which sums each row into the pixels it came from.

use rayon::prelude::*;

use super::simd::multiversion;
use super::window::Window;

/// Below this many elements per call, threads cost more than they save.
const PARALLEL_MIN: usize = 1 << 15;

/// Writes the im2col matrix of `x` into `cols` (`n * oh * ow` rows of `kh * kw * c`).
pub fn im2col(x: &[f32], g: &Window, cols: &mut [f32]) {
    let k = g.kh * g.kw * g.c;
    let per_image = g.out_pixels() * k;
    assert_eq!(cols.len(), g.n * per_image, "im2col buffer size");
    let one = |(img, out): (usize, &mut [f32])| im2col_image(&x[img * g.image_len()..(img + 1) * g.image_len()], g, out);
    if cols.len() >= PARALLEL_MIN {
        cols.par_chunks_mut(per_image).enumerate().for_each(one);
    } else {
        cols.chunks_mut(per_image).enumerate().for_each(one);
    }
}

fn im2col_image(x: &[f32], g: &Window, out: &mut [f32]) {
    let c = g.c;
    let row_len = g.kw * c;
    let mut rows = out.chunks_exact_mut(g.kh * row_len);
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let row = rows.next().expect("one row per output pixel");
            for ky in 0..g.kh {
                let dst = &mut row[ky * row_len..(ky + 1) * row_len];
                let Some(iy) = g.in_row(oy, ky) else {
                    dst.fill(0.0);
                    continue;
                };
                let x0 = (ox * g.sw) as isize - g.pad_left as isize;
                if x0 >= 0 && x0 as usize + g.kw <= g.w {
                    // The whole kernel row is inside the image: one contiguous copy.
                    let start = (iy * g.w + x0 as usize) * c;
                    dst.copy_from_slice(&x[start..start + row_len]);
                } else {
                    for kx in 0..g.kw {
                        let d = &mut dst[kx * c..(kx + 1) * c];
                        match g.in_col(ox, kx) {
                            Some(ix) => d.copy_from_slice(&x[(iy * g.w + ix) * c..(iy * g.w + ix + 1) * c]),
                            None => d.fill(0.0),
                        }
                    }
                }
            }
        }
    }
}

/// Adds each im2col row of `cols` back into the input pixels it was read from.
/// `dx` (`n * h * w * c`) is overwritten.
pub fn col2im(cols: &[f32], g: &Window, dx: &mut [f32]) {
    let k = g.kh * g.kw * g.c;
    let per_image = g.out_pixels() * k;
    assert_eq!(cols.len(), g.n * per_image, "col2im buffer size");
    assert_eq!(dx.len(), g.n * g.image_len(), "col2im output size");
    let one = |(img, out): (usize, &mut [f32])| col2im_image(&cols[img * per_image..(img + 1) * per_image], g, out);
    if cols.len() >= PARALLEL_MIN {
        dx.par_chunks_mut(g.image_len()).enumerate().for_each(one);
    } else {
        dx.chunks_mut(g.image_len()).enumerate().for_each(one);
    }
}

multiversion! {
    fn col2im_image(cols: &[f32], g: &Window, dx: &mut [f32]) {
        dx.fill(0.0);
        let c = g.c;
        let mut rows = cols.chunks_exact(g.kh * g.kw * c);
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let row = rows.next().expect("one row per output pixel");
                for ky in 0..g.kh {
                    let Some(iy) = g.in_row(oy, ky) else { continue };
                    for kx in 0..g.kw {
                        let Some(ix) = g.in_col(ox, kx) else { continue };
                        let src = &row[(ky * g.kw + kx) * c..(ky * g.kw + kx + 1) * c];
                        let dst = &mut dx[(iy * g.w + ix) * c..(iy * g.w + ix + 1) * c];
                        dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
                    }
                }
            }
        }
    }
}

/// Direct convolution by seven nested loops, for tests: `x` NHWC, `kernel`
/// `(kh, kw, c, f)`, returns `[n, oh, ow, f]`.
pub fn conv2d_reference(x: &[f32], kernel: &[f32], f: usize, g: &Window) -> Vec<f32> {
    let mut y = vec![0.0f32; g.n * g.out_pixels() * f];
    for img in 0..g.n {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                for o in 0..f {
                    let mut s = 0.0f64;
                    for ky in 0..g.kh {
                        for kx in 0..g.kw {
                            let (Some(iy), Some(ix)) = (g.in_row(oy, ky), g.in_col(ox, kx)) else { continue };
                            for ch in 0..g.c {
                                let xv = x[((img * g.h + iy) * g.w + ix) * g.c + ch];
                                let kv = kernel[((ky * g.kw + kx) * g.c + ch) * f + o];
                                s += xv as f64 * kv as f64;
                            }
                        }
                    }
                    y[((img * g.oh + oy) * g.ow + ox) * f + o] = s as f32;
                }
            }
        }
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::matmul::Gemm;
    use crate::kernels::window::Padding;
    use crate::rng::Rng;

    #[test]
    fn im2col_gemm_matches_direct_convolution() {
        let mut rng = Rng::new(2);
        for &(h, w, c, k, s, pad) in &[
            (5, 5, 1, 3, 1, Padding::Valid),
            (6, 7, 3, 3, 2, Padding::Same),
            (7, 6, 2, 2, 3, Padding::Same),
            (8, 8, 4, 3, 1, Padding::Same),
        ] {
            let (n, f) = (2, 5);
            let g = Window::new([n, h, w, c], (k, k), (s, s), pad).unwrap();
            let x: Vec<f32> = (0..n * h * w * c).map(|_| rng.normal()).collect();
            let kernel: Vec<f32> = (0..k * k * c * f).map(|_| rng.normal()).collect();
            let mut cols = vec![0.0; n * g.out_pixels() * k * k * c];
            im2col(&x, &g, &mut cols);
            let mut y = vec![0.0; n * g.out_pixels() * f];
            Gemm { m: n * g.out_pixels(), k: k * k * c, n: f, trans_a: false, trans_b: false }.run(&cols, &kernel, &mut y, false);
            let expect = conv2d_reference(&x, &kernel, f, &g);
            for (a, b) in y.iter().zip(&expect) {
                assert!((a - b).abs() < 1e-4 * (1.0 + b.abs()));
            }
        }
    }

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        // <im2col(x), c> == <x, col2im(c)> for all x, c.
        let mut rng = Rng::new(3);
        let g = Window::new([2, 6, 5, 3], (3, 2), (2, 1), Padding::Same).unwrap();
        let x: Vec<f32> = (0..2 * g.image_len()).map(|_| rng.normal()).collect();
        let cl = 2 * g.out_pixels() * 3 * 2 * 3;
        let c: Vec<f32> = (0..cl).map(|_| rng.normal()).collect();
        let mut cols = vec![0.0; cl];
        im2col(&x, &g, &mut cols);
        let mut dx = vec![0.0; x.len()];
        col2im(&c, &g, &mut dx);
        let lhs: f64 = cols.iter().zip(&c).map(|(a, b)| (a * b) as f64).sum();
        let rhs: f64 = x.iter().zip(&dx).map(|(a, b)| (a * b) as f64).sum();
        assert!((lhs - rhs).abs() < 1e-3 * (1.0 + lhs.abs()));
    }
}
