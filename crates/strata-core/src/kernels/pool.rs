//! 2-D max pooling over NHWC images. The forward pass records, for every
//! output element, which input element won, so the backward pass is a scatter.

use rayon::prelude::*;

use super::window::Window;

const PARALLEL_MIN: usize = 1 << 15;

/// Fills `y` (`n * oh * ow * c`) with window maxima and `argmax` with the
/// winning element's offset inside its image. Padding never wins.
pub fn max_pool2d(x: &[f32], g: &Window, y: &mut [f32], argmax: &mut [u32]) {
    let out_image = g.out_pixels() * g.c;
    assert_eq!(y.len(), g.n * out_image, "max_pool2d output size");
    assert_eq!(argmax.len(), y.len(), "max_pool2d argmax size");
    let one = |(img, (y, am)): (usize, (&mut [f32], &mut [u32]))| {
        pool_image(&x[img * g.image_len()..(img + 1) * g.image_len()], g, y, am)
    };
    if y.len() >= PARALLEL_MIN {
        y.par_chunks_mut(out_image).zip(argmax.par_chunks_mut(out_image)).enumerate().for_each(one);
    } else {
        y.chunks_mut(out_image).zip(argmax.chunks_mut(out_image)).enumerate().for_each(one);
    }
}

fn pool_image(x: &[f32], g: &Window, y: &mut [f32], argmax: &mut [u32]) {
    let c = g.c;
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let o = (oy * g.ow + ox) * c;
            let (yo, ao) = (&mut y[o..o + c], &mut argmax[o..o + c]);
            let mut first = true;
            for ky in 0..g.kh {
                let Some(iy) = g.in_row(oy, ky) else { continue };
                for kx in 0..g.kw {
                    let Some(ix) = g.in_col(ox, kx) else { continue };
                    let base = (iy * g.w + ix) * c;
                    let xs = &x[base..base + c];
                    if first {
                        yo.copy_from_slice(xs);
                        ao.iter_mut().enumerate().for_each(|(ch, a)| *a = (base + ch) as u32);
                        first = false;
                        continue;
                    }
                    // Branch-free so the compiler vectorises it over channels.
                    for ch in 0..c {
                        let better = xs[ch] > yo[ch];
                        yo[ch] = if better { xs[ch] } else { yo[ch] };
                        ao[ch] = if better { (base + ch) as u32 } else { ao[ch] };
                    }
                }
            }
        }
    }
}

/// Sends each output gradient to the input element that won its window.
/// `dx` (`n * h * w * c`) is overwritten.
pub fn max_pool2d_backward(dy: &[f32], argmax: &[u32], g: &Window, dx: &mut [f32]) {
    let out_image = g.out_pixels() * g.c;
    let one = |(img, dx): (usize, &mut [f32])| {
        dx.fill(0.0);
        let range = img * out_image..(img + 1) * out_image;
        for (&d, &a) in dy[range.clone()].iter().zip(&argmax[range]) {
            dx[a as usize] += d;
        }
    };
    if dx.len() >= PARALLEL_MIN {
        dx.par_chunks_mut(g.image_len()).enumerate().for_each(one);
    } else {
        dx.chunks_mut(g.image_len()).enumerate().for_each(one);
    }
}
