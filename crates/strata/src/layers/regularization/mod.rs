//! Regularization layers.

mod dropout;

pub use dropout::Dropout;
