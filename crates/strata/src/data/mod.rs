//! Data in: file formats and datasets.

pub mod idx;
pub mod mnist;
