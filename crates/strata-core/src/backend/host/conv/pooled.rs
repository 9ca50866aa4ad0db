//! A relu convolution followed by max pooling over windows that tile its
//! output (Keras's `Conv2D(activation="relu")` + `MaxPooling2D()`), as one op.
//!
//! Each image's convolution is pooled while it is in cache, so the full-size
//! convolution output is never stored; only the outputs some window reads are
//! computed (an 11x11 output pooled 2x2 needs 10x10), and the backward pass
//! runs the gradients over those alone. The values are the same as the two
//! ops' (bit for bit); the gradients agree to rounding.
//!
//! Three backward paths: through each window's maximum alone where kernel
//! rows fill a vector ([`super::maxima`]); a first layer's kernel and bias
//! gradients with filters across the lanes ([`super::first`], which also
//! runs such a layer's forward pass); else the dense passes behind the
//! pooling and the relu.

use std::ops::Range;

use rayon::prelude::*;

use crate::buffer::{self, Recycled};
use crate::kernels::pool_tiles::{max_pool_tiles, max_pool_tiles_relu_backward};
use crate::kernels::window::Window;
use crate::kernels::winograd::Scratch;
use crate::tensor::Tensor;

use super::direct::{gradients, images_per_chunk, Forward, Input};
use super::{first, maxima};

/// How many bands of pooled rows each image's work is split into: one when
/// the batch has an image for every thread, else one per thread (at most
/// one per row), so a single image still uses every core. Each output is
/// computed alike in any band, so the values do not depend on it. `fixed`
/// keeps one band (Winograd's 2x2 blocks across odd pooling windows).
fn bands_per_image(images: usize, rows: usize, fixed: bool) -> usize {
    let threads = crate::threads::num_threads();
    match fixed || images >= threads {
        true => 1,
        false => threads.min(rows).max(1),
    }
}

/// `max_pool2d(relu(conv2d(x, kernel) + bias))` over convolution window `g`
/// and pooling windows `pooled` that tile its output.
pub(crate) fn conv2d_relu_max_pool(x: &Tensor, kernel: &Tensor, bias: Option<&Tensor>, g: Window, pooled: Window) -> Tensor {
    let (f, pool) = (kernel.shape()[3], (pooled.kh, pooled.kw));
    // The convolution outputs that some window reads, and the pooling of one image of them.
    let gc = Window { oh: pooled.oh * pool.0, ow: pooled.ow * pool.1, ..g };
    let gp = Window { n: 1, h: gc.oh, w: gc.ow, c: f, ..pooled };
    let (p, q, per_chunk) = (gc.out_pixels() * f, pooled.out_pixels() * f, images_per_chunk(&g));
    let input = Input::new(&gc, x);
    let first = first::Layout::new(&gc, &gp);
    let bias_values = bias.map(|b| b.to_vec());
    let mut out = buffer::take(g.n * q);
    let mut arg = buffer::take::<u8>(g.n * q);
    {
        let (xd, kd) = (x.data(), kernel.data());
        let forward = Forward::new(&gc, kernel, &kd, f);
        let bias = bias_values.as_deref();
        let row = pooled.ow * f;
        // The pooled rows `rows` of one image: Winograd's blocks pass them
        // all at once, direct tiles one row of windows at a time (pooled
        // while it is in the first-level cache).
        let band = |image: &[f32], rows: Range<usize>, y: &mut [f32], a: &mut [u8], scratch: &mut Scratch, conv: &mut Vec<f32>| {
            if let Some(first) = &first {
                first.forward(image, &kd, bias, rows.start * pooled.ow..rows.end * pooled.ow, y, a);
                return;
            }
            if pool == (2, 2) && forward.pools() {
                forward.rows_pooled(image, rows.start * 2..rows.end * 2, bias, scratch, y, a);
                return;
            }
            if forward.is_winograd() {
                conv.resize(rows.len() * pool.0 * gc.ow * f, 0.0);
                forward.rows(image, rows.start * pool.0..rows.end * pool.0, bias, true, scratch, conv);
                max_pool_tiles(conv, &Window { h: rows.len() * pool.0, oh: rows.len(), ..gp }, y, a);
                return;
            }
            conv.resize(pool.0 * gc.ow * f, 0.0);
            for (py, (y, a)) in rows.zip(y.chunks_mut(row).zip(a.chunks_mut(row))) {
                forward.rows(image, py * pool.0..(py + 1) * pool.0, bias, true, scratch, conv);
                max_pool_tiles(conv, &Window { h: pool.0, oh: 1, ..gp }, y, a);
            }
        };
        let bands = bands_per_image(g.n, pooled.oh, forward.is_winograd() && pool.0 % 2 == 1);
        out.par_chunks_mut(per_chunk * q).zip(arg.par_chunks_mut(per_chunk * q)).enumerate().for_each(|(i, (ys, args))| {
            let (mut scratch, mut conv) = (Scratch::default(), Vec::new());
            for (j, (y, a)) in ys.chunks_mut(q).zip(args.chunks_mut(q)).enumerate() {
                let image = input.image(&xd, i * per_chunk + j);
                if bands == 1 {
                    band(image, 0..pooled.oh, y, a, &mut scratch, &mut conv);
                    continue;
                }
                // Too few images to busy the threads: they share each image's rows.
                let per_band = pooled.oh.div_ceil(bands) * row;
                y.par_chunks_mut(per_band).zip(a.par_chunks_mut(per_band)).enumerate().for_each(|(b, (y, a))| {
                    let first = b * per_band / row;
                    band(image, first..first + y.len() / row, y, a, &mut Scratch::default(), &mut Vec::new());
                });
            }
        });
    }
    let shape = vec![g.n, pooled.oh, pooled.ow, f];
    let arg = Recycled(arg);
    if !super::tracked(x, kernel, bias) {
        return Tensor::constant(out, shape);
    }
    let backward = move |inputs: &[Tensor], y: &[f32], dy: &[f32]| {
        if maxima::suits(&gc, f) {
            return maxima::gradients(&gc, &gp, &input, inputs, y, dy, &arg);
        }
        if let Some(grads) = first.as_ref().and_then(|first| first::gradients(first, &gc, &gp, &input, inputs, y, dy, &arg)) {
            return grads;
        }
        // Each block's convolution gradient comes through the pooling and the relu.
        gradients(&gc, f, &input, inputs, |imgs, d| {
            for (i, d) in imgs.zip(d.chunks_mut(p)) {
                let o = i * q..(i + 1) * q;
                max_pool_tiles_relu_backward(&dy[o.clone()], &y[o.clone()], &arg[o], &gp, d);
            }
        })
    };
    super::node("conv2d_relu_max_pool", out, shape, x, kernel, bias, backward)
}
