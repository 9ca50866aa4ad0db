//! Convolution layers.

mod conv1d;
mod conv2d;

pub use conv1d::{Conv1D, Padding1D};
pub use conv2d::Conv2D;
