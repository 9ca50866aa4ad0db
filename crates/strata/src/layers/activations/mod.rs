//! Activation layers.

mod activation;
mod relu;

pub use activation::Activation;
pub use relu::{LeakyReLU, ReLU};
