//! Pooling layers.

mod global_pooling2d;
mod pooling2d;

pub use global_pooling2d::{GlobalAveragePooling2D, GlobalMaxPooling2D, GlobalPooling2D};
pub use pooling2d::{AveragePooling2D, MaxPooling2D, Pooling2D};
