//! Reshaping layers.

mod flatten;
mod padding2d;
mod permute;
mod reshape;
mod up_sampling2d;

pub use flatten::Flatten;
pub use padding2d::{Cropping2D, Margins, Margins2D, ZeroPadding2D};
pub use permute::Permute;
pub use reshape::Reshape;
pub use up_sampling2d::UpSampling2D;
