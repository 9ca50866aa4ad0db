//! Ready-made datasets.

use std::path::Path;

use strata_core::Result;

use crate::data::mnist::{self, Mnist};

/// The 10,000-digit MNIST sample compiled into Strata (8,000 train / 2,000
/// test; MIT licence, see `crates/strata/data/mnist-10k/`).
pub fn mnist_sample() -> Result<Mnist> {
    mnist::load_bytes([
        include_bytes!("../data/mnist-10k/train-images-idx3-ubyte.gz"),
        include_bytes!("../data/mnist-10k/train-labels-idx1-ubyte.gz"),
        include_bytes!("../data/mnist-10k/t10k-images-idx3-ubyte.gz"),
        include_bytes!("../data/mnist-10k/t10k-labels-idx1-ubyte.gz"),
    ])
}

/// Any folder holding the four MNIST-format IDX files (MNIST, Fashion-MNIST, ...).
pub fn load_idx_dir(dir: &Path) -> Result<Mnist> {
    mnist::load_dir(dir)
}
