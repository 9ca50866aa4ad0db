//! Resampling of NHWC images ([`Resample`]): each output pixel a weighted sum
//! of at most four source pixels; the gradient adds it back the same way.

use rayon::prelude::*;

use crate::autodiff::GradFn;
use crate::ops::image::{Resample, FILL};
use crate::tensor::Tensor;

/// `x` resampled by `r`.
pub(crate) fn resample(x: &Tensor, r: &Resample) -> Tensor {
    let &[n, h, w, c] = x.shape() else { unreachable!("resample checks for NHWC images") };
    let (pixels, image) = (r.out.0 * r.out.1, h * w * c);
    let taps_of = |b: usize| if r.per_image { &r.taps[b * pixels..(b + 1) * pixels] } else { &r.taps[..pixels] };
    let mut out = vec![0.0; n * pixels * c];
    {
        let xd = x.data();
        out.par_chunks_mut(pixels * c).enumerate().for_each(|(b, out)| {
            let src = &xd[b * image..(b + 1) * image];
            for (dst, taps) in out.chunks_exact_mut(c).zip(taps_of(b)) {
                for &(i, wt) in taps.iter().filter(|(_, wt)| *wt != 0.0) {
                    match i {
                        FILL => dst.iter_mut().for_each(|d| *d += wt * r.fill),
                        i => dst.iter_mut().zip(&src[i as usize * c..(i as usize + 1) * c]).for_each(|(d, s)| *d += wt * s),
                    }
                }
            }
        });
    }
    let r = r.clone();
    let backward = move |_: &[Tensor], _: &[f32], g: &[f32]| {
        let taps_of = |b: usize| if r.per_image { &r.taps[b * pixels..(b + 1) * pixels] } else { &r.taps[..pixels] };
        let mut gx = vec![0.0; n * image];
        gx.par_chunks_mut(image).enumerate().for_each(|(b, gx)| {
            for (gy, taps) in g[b * pixels * c..(b + 1) * pixels * c].chunks_exact(c).zip(taps_of(b)) {
                for &(i, wt) in taps.iter().filter(|(i, wt)| *i != FILL && *wt != 0.0) {
                    gx[i as usize * c..(i as usize + 1) * c].iter_mut().zip(gy).for_each(|(d, g)| *d += wt * g);
                }
            }
        });
        vec![Some(gx)]
    };
    Tensor::from_op(out, vec![n, r.out.0, r.out.1, c], GradFn::host("resample", vec![x.clone()], backward))
}
