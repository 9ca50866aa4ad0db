//! Activation layers.

mod activation;

pub use activation::Activation;
