//! Regularization layers: active in training only.

mod dropout;
mod gaussian;

pub use dropout::Dropout;
pub use gaussian::{Gaussian, GaussianDropout, GaussianNoise};
