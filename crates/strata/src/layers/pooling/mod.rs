//! Pooling layers.

mod max_pooling2d;

pub use max_pooling2d::MaxPooling2D;
