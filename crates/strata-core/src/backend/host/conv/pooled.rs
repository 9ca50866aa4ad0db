//! A relu convolution followed by max pooling over windows that tile its
//! output (Keras's `Conv2D(activation="relu")` + `MaxPooling2D()`), as one op.
//!
//! Each image's convolution is pooled while it is in cache, so the full-size
//! convolution output is never stored; only the outputs some window reads are
//! computed (an 11x11 output pooled 2x2 needs 10x10), and the backward pass
//! runs the gradients over those alone. The values are the same as the two
//! ops' (bit for bit); the gradients agree to rounding.

use rayon::prelude::*;

use crate::buffer::{self, Recycled};
use crate::kernels::direct::forward_rows;
use crate::kernels::pool_tiles::{max_pool_tiles, max_pool_tiles_relu_backward};
use crate::kernels::window::Window;
use crate::kernels::winograd::Scratch;
use crate::tensor::Tensor;

use super::direct::{gradients, images_per_chunk, Forward, Input};

/// `max_pool2d(relu(conv2d(x, kernel) + bias))` over convolution window `g`
/// and pooling windows `pooled` that tile its output.
pub(crate) fn conv2d_relu_max_pool(x: &Tensor, kernel: &Tensor, bias: Option<&Tensor>, g: Window, pooled: Window) -> Tensor {
    let (f, pool) = (kernel.shape()[3], (pooled.kh, pooled.kw));
    // The convolution outputs that some window reads, and the pooling of one image of them.
    let gc = Window { oh: pooled.oh * pool.0, ow: pooled.ow * pool.1, ..g };
    let gp = Window { n: 1, h: gc.oh, w: gc.ow, c: f, ..pooled };
    let (p, q, per_chunk) = (gc.out_pixels() * f, pooled.out_pixels() * f, images_per_chunk(&g));
    let input = Input::new(&gc, x);
    let bias_values = bias.map(|b| b.to_vec());
    let mut out = buffer::take(g.n * q);
    let mut arg = buffer::take::<u8>(g.n * q);
    {
        let (xd, kd) = (x.data(), kernel.data());
        let forward = Forward::new(&gc, &kd, f);
        let bias = bias_values.as_deref();
        out.par_chunks_mut(per_chunk * q).zip(arg.par_chunks_mut(per_chunk * q)).enumerate().for_each(|(i, (ys, args))| {
            let mut scratch = Scratch::default();
            // Direct tiles go one row of windows at a time, pooled while it is
            // in the first-level cache; Winograd's blocks, a whole image.
            let mut conv = vec![0.0; if forward.is_winograd() { p } else { pool.0 * gc.ow * f }];
            let row = pooled.ow * f;
            for (j, (y, a)) in ys.chunks_mut(q).zip(args.chunks_mut(q)).enumerate() {
                let image = input.image(&xd, i * per_chunk + j);
                if forward.is_winograd() {
                    forward.image(image, bias, true, &mut scratch, &mut conv);
                    max_pool_tiles(&conv, &gp, y, a);
                    continue;
                }
                for (py, (y, a)) in y.chunks_mut(row).zip(a.chunks_mut(row)).enumerate() {
                    forward_rows(image, &kd, f, &gc, py * pool.0..(py + 1) * pool.0, bias, true, &mut conv);
                    max_pool_tiles(&conv, &Window { h: pool.0, oh: 1, ..gp }, y, a);
                }
            }
        });
    }
    let shape = vec![g.n, pooled.oh, pooled.ow, f];
    let arg = Recycled(arg);
    if !super::tracked(x, kernel, bias) {
        return Tensor::constant(out, shape);
    }
    let backward = move |inputs: &[Tensor], y: &[f32], dy: &[f32]| {
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
