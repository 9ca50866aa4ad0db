//! Data in: file formats and datasets.

pub mod dataset;
pub mod idx;
pub mod stream;
pub mod images;
pub mod mnist;
pub mod audio;
pub mod wav;

use std::path::{Path, PathBuf};

use strata_core::{Error, Result};

/// The entries of `dir`, sorted by path (image and audio folders list classes and files so).
pub(crate) fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut paths = entries.map(|e| e.map(|e| e.path()).map_err(|e| Error::io(dir, e))).collect::<Result<Vec<_>>>()?;
    paths.sort();
    Ok(paths)
}
