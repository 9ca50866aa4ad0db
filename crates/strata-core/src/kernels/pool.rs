//! 2-D max pooling over NHWC images. The forward pass keeps only the maxima;
//! the backward pass finds each window's winner again by comparing the input
//! with the output (the first element equal to the maximum gets the
//! gradient), so no index array is stored and the forward loop vectorises.

use rayon::prelude::*;

use super::simd::multiversion;
use super::window::Window;

const PARALLEL_MIN: usize = 1 << 15;

/// Runs `f(image, out)` over the images, in parallel when the work is large.
fn per_image(out: &mut [f32], chunk: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    if out.len() >= PARALLEL_MIN {
        out.par_chunks_mut(chunk).enumerate().for_each(|(i, o)| f(i, o));
    } else {
        out.chunks_mut(chunk).enumerate().for_each(|(i, o)| f(i, o));
    }
}

/// Fills `y` (`n * oh * ow * c`) with the maximum of each window. Padding never wins.
pub fn max_pool2d(x: &[f32], g: &Window, y: &mut [f32]) {
    let out_image = g.out_pixels() * g.c;
    assert_eq!(y.len(), g.n * out_image, "max_pool2d output size");
    per_image(y, out_image, |img, y| pool_image(&x[img * g.image_len()..(img + 1) * g.image_len()], g, y));
}

multiversion! {
    fn pool_image(x: &[f32], g: &Window, y: &mut [f32]) {
        let c = g.c;
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let yo = &mut y[(oy * g.ow + ox) * c..(oy * g.ow + ox + 1) * c];
                let mut first = true;
                for ky in 0..g.kh {
                    let Some(iy) = g.in_row(oy, ky) else { continue };
                    for kx in 0..g.kw {
                        let Some(ix) = g.in_col(ox, kx) else { continue };
                        let xs = &x[(iy * g.w + ix) * c..(iy * g.w + ix + 1) * c];
                        if first {
                            yo.copy_from_slice(xs);
                            first = false;
                        } else {
                            yo.iter_mut().zip(xs).for_each(|(y, &v)| *y = if v > *y { v } else { *y });
                        }
                    }
                }
            }
        }
    }
}

/// Sends each output gradient to the first input element of its window that
/// equals the window's maximum. `dx` (`n * h * w * c`) is overwritten.
pub fn max_pool2d_backward(x: &[f32], y: &[f32], dy: &[f32], g: &Window, dx: &mut [f32]) {
    let out_image = g.out_pixels() * g.c;
    // Windows that tile the image without overlap (the usual pool == strides,
    // 'valid') write each covered element once; only the rest is zeroed.
    let tiles = g.kh == g.sh && g.kw == g.sw && g.pad_top == 0 && g.pad_left == 0;
    per_image(dx, g.image_len(), |img, dx| {
        let x = &x[img * g.image_len()..(img + 1) * g.image_len()];
        let (y, dy) = (&y[img * out_image..(img + 1) * out_image], &dy[img * out_image..(img + 1) * out_image]);
        backward_image(x, y, dy, g, tiles, dx);
    });
}

multiversion! {
    fn backward_image(x: &[f32], y: &[f32], dy: &[f32], g: &Window, tiles: bool, dx: &mut [f32]) {
        let c = g.c;
        if tiles {
            for iy in 0..g.h {
                let covered = if iy < g.oh * g.kh { (g.ow * g.kw).min(g.w) } else { 0 };
                dx[(iy * g.w + covered) * c..(iy + 1) * g.w * c].fill(0.0);
            }
        } else {
            dx.fill(0.0);
        }
        let mut found = vec![false; c];
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let o = (oy * g.ow + ox) * c;
                let (yo, go) = (&y[o..o + c], &dy[o..o + c]);
                found.fill(false);
                for ky in 0..g.kh {
                    let Some(iy) = g.in_row(oy, ky) else { continue };
                    for kx in 0..g.kw {
                        let Some(ix) = g.in_col(ox, kx) else { continue };
                        let base = (iy * g.w + ix) * c;
                        let (xs, dxs) = (&x[base..base + c], &mut dx[base..base + c]);
                        // Branch-free over zipped slices so the compiler vectorises it.
                        let lanes = dxs.iter_mut().zip(found.iter_mut()).zip(xs.iter().zip(yo)).zip(go);
                        if tiles {
                            for (((d, f), (&xv, &yv)), &gv) in lanes {
                                let hit = !*f & (xv == yv);
                                *d = if hit { gv } else { 0.0 };
                                *f |= hit;
                            }
                        } else {
                            for (((d, f), (&xv, &yv)), &gv) in lanes {
                                let hit = !*f & (xv == yv);
                                *d += if hit { gv } else { 0.0 };
                                *f |= hit;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Fills `y` with the mean of each window over the elements inside the image
/// (padding is not counted, as in Keras's `same` average pooling).
pub fn avg_pool2d(x: &[f32], g: &Window, y: &mut [f32]) {
    let out_image = g.out_pixels() * g.c;
    per_image(y, out_image, |img, y| avg_image(&x[img * g.image_len()..(img + 1) * g.image_len()], g, y));
}

fn avg_image(x: &[f32], g: &Window, y: &mut [f32]) {
    let c = g.c;
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let yo = &mut y[(oy * g.ow + ox) * c..(oy * g.ow + ox + 1) * c];
            yo.fill(0.0);
            let mut count = 0usize;
            for ky in 0..g.kh {
                let Some(iy) = g.in_row(oy, ky) else { continue };
                for kx in 0..g.kw {
                    let Some(ix) = g.in_col(ox, kx) else { continue };
                    count += 1;
                    yo.iter_mut().zip(&x[(iy * g.w + ix) * c..(iy * g.w + ix + 1) * c]).for_each(|(y, v)| *y += v);
                }
            }
            let inv = 1.0 / count.max(1) as f32;
            yo.iter_mut().for_each(|y| *y *= inv);
        }
    }
}

/// Spreads each output gradient evenly over its window's elements. `dx` is overwritten.
pub fn avg_pool2d_backward(dy: &[f32], g: &Window, dx: &mut [f32]) {
    let (c, out_image) = (g.c, g.out_pixels() * g.c);
    per_image(dx, g.image_len(), |img, dx| {
        dx.fill(0.0);
        let dy = &dy[img * out_image..(img + 1) * out_image];
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let rows = (0..g.kh).filter(|&ky| g.in_row(oy, ky).is_some()).count();
                let cols = (0..g.kw).filter(|&kx| g.in_col(ox, kx).is_some()).count();
                let inv = 1.0 / (rows * cols).max(1) as f32;
                let go = &dy[(oy * g.ow + ox) * c..(oy * g.ow + ox + 1) * c];
                for ky in 0..g.kh {
                    let Some(iy) = g.in_row(oy, ky) else { continue };
                    for kx in 0..g.kw {
                        let Some(ix) = g.in_col(ox, kx) else { continue };
                        dx[(iy * g.w + ix) * c..(iy * g.w + ix + 1) * c].iter_mut().zip(go).for_each(|(d, g)| *d += g * inv);
                    }
                }
            }
        }
    });
}
