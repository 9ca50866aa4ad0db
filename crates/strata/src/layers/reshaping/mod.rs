//! Reshaping layers.

mod flatten;

pub use flatten::Flatten;
