//! Data in: file formats and datasets.

pub mod dataset;
pub mod idx;
pub mod stream;
pub mod images;
pub mod mnist;
pub mod audio;
pub mod wav;
