//! Differentiable ops. Each file holds a family of ops; each op computes its
//! output with a kernel and, right beside it, the closure that computes its
//! inputs' gradients.

mod activation;
mod arith;
mod conv;
mod index;
mod layout;
mod linear;
mod loss;
mod matmul;
mod pool;
mod reduce;
mod shape;
mod softmax;

pub use conv::{conv2d, conv2d_fused, conv2d_relu_max_pool};
pub use linear::linear;
pub use loss::{softmax_cross_entropy, sparse_softmax_cross_entropy};
pub use pool::{avg_pool2d, max_pool2d};
pub use reduce::resolve_axis;
