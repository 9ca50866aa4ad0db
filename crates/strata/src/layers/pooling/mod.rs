//! Pooling layers.

mod global_pooling;
mod pooling1d;
mod pooling2d;

pub use global_pooling::{GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalPooling};
pub use pooling1d::{AveragePooling1D, MaxPooling1D, Pooling1D};
pub use pooling2d::{AveragePooling2D, MaxPooling2D, Pooling2D};
