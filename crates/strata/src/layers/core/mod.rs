//! Core layers.

mod dense;
mod embedding;

pub use dense::Dense;
pub use embedding::Embedding;
