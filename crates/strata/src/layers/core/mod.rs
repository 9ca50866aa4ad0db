//! Core layers.

mod dense;

pub use dense::Dense;
