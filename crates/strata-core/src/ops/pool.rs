//! 2-D max pooling of NHWC images.

use crate::autodiff::GradFn;
use crate::buffer;
use crate::error::{fmt_shape, Error, Result};
use crate::kernels::pool::{max_pool2d as pool_kernel, max_pool2d_backward};
use crate::kernels::window::{Padding, Window};
use crate::tensor::Tensor;

/// Max over `pool` windows moved by `strides`: `[n, h, w, c] -> [n, oh, ow, c]`.
pub fn max_pool2d(x: &Tensor, pool: (usize, usize), strides: (usize, usize), padding: Padding) -> Result<Tensor> {
    let xs = x.shape();
    if xs.len() != 4 {
        return Err(Error::shape("max_pool2d", format!("input must be [batch, height, width, channels], got shape {}", fmt_shape(xs))));
    }
    if strides.0 == 0 || strides.1 == 0 || pool.0 == 0 || pool.1 == 0 {
        return Err(Error::shape("max_pool2d", format!("pool size {pool:?} and strides {strides:?} must be positive")));
    }
    let g = Window::new([xs[0], xs[1], xs[2], xs[3]], pool, strides, padding).ok_or_else(|| {
        Error::shape("max_pool2d", format!("a {}x{} pool does not fit input {} with '{}' padding", pool.0, pool.1, fmt_shape(xs), padding.name()))
    })?;
    let len = g.n * g.out_pixels() * g.c;
    let mut out = buffer::take(len);
    pool_kernel(&x.data(), &g, &mut out);
    let backward = move |inputs: &[Tensor], y: &[f32], dy: &[f32]| {
        let mut dx = buffer::take(g.n * g.image_len());
        max_pool2d_backward(&inputs[0].data(), y, dy, &g, &mut dx);
        vec![Some(dx)]
    };
    Ok(Tensor::from_op(out, vec![g.n, g.oh, g.ow, g.c], GradFn::new("max_pool2d", vec![x.clone()], Box::new(backward))))
}
