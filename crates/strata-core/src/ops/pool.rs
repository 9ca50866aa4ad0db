//! 2-D max and average pooling of NHWC images.

use crate::error::{fmt_shape, Error, Result};
use crate::kernels::window::{Padding, Window};
use crate::tensor::Tensor;

/// Validates a pooling op's arguments and returns its window geometry.
fn geometry(op: &str, x: &Tensor, pool: (usize, usize), strides: (usize, usize), padding: Padding) -> Result<Window> {
    let xs = x.shape();
    if xs.len() != 4 {
        return Err(Error::shape(op, format!("input must be [batch, height, width, channels], got shape {}", fmt_shape(xs))));
    }
    if strides.0 == 0 || strides.1 == 0 || pool.0 == 0 || pool.1 == 0 {
        return Err(Error::shape(op, format!("pool size {pool:?} and strides {strides:?} must be positive")));
    }
    Window::new([xs[0], xs[1], xs[2], xs[3]], pool, strides, padding).ok_or_else(|| {
        Error::shape(op, format!("a {}x{} pool does not fit input {} with '{}' padding", pool.0, pool.1, fmt_shape(xs), padding.name()))
    })
}

/// Mean over `pool` windows moved by `strides` (padding not counted): `[n, h, w, c] -> [n, oh, ow, c]`.
pub fn avg_pool2d(x: &Tensor, pool: (usize, usize), strides: (usize, usize), padding: Padding) -> Result<Tensor> {
    let g = geometry("avg_pool2d", x, pool, strides, padding)?;
    Ok(x.backend().avg_pool2d(x, g))
}

/// Max over `pool` windows moved by `strides`: `[n, h, w, c] -> [n, oh, ow, c]`.
pub fn max_pool2d(x: &Tensor, pool: (usize, usize), strides: (usize, usize), padding: Padding) -> Result<Tensor> {
    let g = geometry("max_pool2d", x, pool, strides, padding)?;
    Ok(x.backend().max_pool2d(x, g))
}
