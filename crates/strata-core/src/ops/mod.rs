//! Differentiable ops: the public API of tensors. Each op checks its
//! arguments (shapes, axes, ranges, devices) and names the culprit when they
//! are wrong, then hands the computation to its operands' backend
//! ([`crate::backend`]), which also records the backward pass.

mod activation;
mod arith;
mod conv;
pub mod image;
mod index;
mod layout;
mod loss;
mod matmul;
mod pool;
pub(crate) mod recurrent;
mod reduce;
mod shape;
mod softmax;

pub use conv::{conv2d, conv2d_fused, conv2d_relu_max_pool, conv2d_transpose, conv2d_transpose_window, transpose_output_len};
pub use image::{FillMode, Interpolation, Resample};
pub use loss::{softmax_cross_entropy, sparse_softmax_cross_entropy};
pub use matmul::linear;
pub use pool::{avg_pool2d, max_pool2d};
pub use recurrent::RecurrentDropout;
pub use reduce::resolve_axis;

use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Fails, naming `op` and both devices, unless all `operands` are on one device.
fn same_device(op: &str, operands: &[&Tensor]) -> Result<()> {
    match operands.iter().find(|t| t.device() != operands[0].device()) {
        Some(t) => Err(Error::argument(op, format!("operands are on different devices ({:?} and {:?})", operands[0].device(), t.device()))),
        None => Ok(()),
    }
}
