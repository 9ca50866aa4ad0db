//! Data in: file formats and datasets.

pub mod dataset;
pub mod idx;
pub mod stream;
pub mod images;
pub mod mnist;
pub mod audio;
pub mod text;
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

/// Files under `dir` in one sub-folder per class (class names in
/// alphabetical order, folders with no such file skipped), as Keras's
/// `*_dataset_from_directory` lists them: class names, files, and each file's class id.
pub(crate) fn class_folders(dir: &Path, wanted: impl Fn(&Path) -> bool) -> Result<(Vec<String>, Vec<PathBuf>, Vec<usize>)> {
    let (mut names, mut files, mut labels) = (Vec::new(), Vec::new(), Vec::new());
    for class_dir in sorted_entries(dir)?.into_iter().filter(|p| p.is_dir()) {
        let found: Vec<PathBuf> = sorted_entries(&class_dir)?.into_iter().filter(|p| p.is_file() && wanted(p)).collect();
        if found.is_empty() {
            continue;
        }
        labels.extend(std::iter::repeat_n(names.len(), found.len()));
        names.push(class_dir.file_name().unwrap_or_default().to_string_lossy().into_owned());
        files.extend(found);
    }
    Ok((names, files, labels))
}

/// Whether `path` ends in `.ext` (any case).
pub(crate) fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext))
}
