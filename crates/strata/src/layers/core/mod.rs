//! Core layers.

mod dense;
mod embedding;
mod masking;

pub use dense::Dense;
pub use embedding::Embedding;
pub use masking::Masking;
