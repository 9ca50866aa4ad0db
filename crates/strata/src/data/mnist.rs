//! MNIST-format datasets: four IDX files in one folder, images `28x28` (or any
//! size) with one byte per pixel and one label byte per image.

use std::path::{Path, PathBuf};

use strata_core::{fmt_shape, Error, Result, Tensor};

use super::dataset::Labels;
use super::idx::{self, Idx};

/// Images as `[n, height, width, 1]` floats in `[0, 1]`, labels as class ids.
#[derive(Clone, Debug)]
pub struct Split {
    /// The images, `[n, height, width, 1]`, pixels scaled to `[0, 1]`.
    pub images: Tensor,
    /// The class id (0-9 for MNIST) of each image.
    pub labels: Vec<usize>,
}

/// A train/test pair as stored in MNIST's files.
#[derive(Clone, Debug)]
pub struct Mnist {
    /// The training samples (`train-*` files).
    pub train: Split,
    /// The test samples (`t10k-*` files).
    pub test: Split,
}

/// The four file stems of the MNIST layout.
pub const FILES: [&str; 4] = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

impl Split {
    /// The first `n` samples (all if `n` is larger).
    pub fn take(&self, n: usize) -> Result<Split> {
        let n = n.min(self.labels.len());
        let rows: Vec<usize> = (0..n).collect();
        Ok(Split { images: self.images.gather_rows(&rows)?, labels: self.labels[..n].to_vec() })
    }
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// Labels as a `[n, classes]` one-hot tensor; fails on a label `>= classes`.
    pub fn one_hot(&self, classes: usize) -> Result<Tensor> {
        one_hot(&self.labels, classes)
    }
    /// Labels as a `[n]` tensor of class ids (for sparse losses).
    pub fn label_tensor(&self) -> Tensor {
        Tensor::new(self.labels.iter().map(|&l| l as f32).collect(), &[self.labels.len()]).expect("one value per label")
    }
}

/// `[n, classes]` one-hot rows for class ids; names the first id out of range.
pub fn one_hot(labels: &[usize], classes: usize) -> Result<Tensor> {
    let labels = Labels::new(labels.to_vec(), classes, true)?;
    let mut out = Vec::with_capacity(labels.ids.len() * classes);
    labels.append(&(0..labels.ids.len()).collect::<Vec<_>>(), &mut out);
    Tensor::new(out, &[labels.ids.len(), classes])
}

/// `dir/stem.gz` or `dir/stem`, whichever exists.
pub(crate) fn find(dir: &Path, stem: &str) -> Result<PathBuf> {
    let gz = dir.join(format!("{stem}.gz"));
    let plain = dir.join(stem);
    if gz.is_file() {
        Ok(gz)
    } else if plain.is_file() {
        Ok(plain)
    } else {
        Err(Error::data(dir, format!("missing {stem}.gz (or {stem}): a data folder needs the four MNIST-format IDX files {}", FILES.join(", "))))
    }
}

fn split(images: (Idx, PathBuf), labels: (Idx, PathBuf)) -> Result<Split> {
    let ((img, img_path), (lab, lab_path)) = (images, labels);
    if img.dims.len() != 3 || !img.is_u8 {
        return Err(Error::data(&img_path, format!("expected unsigned-byte images of shape (n, rows, cols), got {} dims {:?}", if img.is_u8 { "u8" } else { "non-u8" }, img.dims)));
    }
    if lab.dims.len() != 1 || !lab.is_u8 {
        return Err(Error::data(&lab_path, format!("expected unsigned-byte labels of shape (n,), got dims {:?}", lab.dims)));
    }
    if img.dims[0] != lab.dims[0] {
        return Err(Error::data(&lab_path, format!("{} labels for {} images in {}", lab.dims[0], img.dims[0], img_path.display())));
    }
    let (n, h, w) = (img.dims[0], img.dims[1], img.dims[2]);
    // Scaled in place: a second copy of a large dataset would double peak memory.
    let mut pixels = img.values;
    pixels.iter_mut().for_each(|v| *v /= 255.0);
    let images = Tensor::new(pixels, &[n, h, w, 1])?;
    Ok(Split { images, labels: lab.values.iter().map(|&v| v as usize).collect() })
}

/// Loads the four MNIST-format IDX files (plain or `.gz`) from `dir`.
pub fn load_dir(dir: &Path) -> Result<Mnist> {
    if !dir.is_dir() {
        return Err(Error::data(dir, "data folder not found (expected a folder holding the four MNIST-format IDX files)"));
    }
    let mut arrays = Vec::with_capacity(4);
    for stem in FILES {
        let path = find(dir, stem)?;
        arrays.push((idx::read(&path)?, path));
    }
    let mut it = arrays.into_iter();
    let mut next = || it.next().expect("four files");
    let train = split(next(), next())?;
    let test = split(next(), next())?;
    if train.images.shape()[1..] != test.images.shape()[1..] {
        return Err(Error::data(dir, format!("train images {} and test images {} differ in size", fmt_shape(&train.images.shape()[1..]), fmt_shape(&test.images.shape()[1..]))));
    }
    Ok(Mnist { train, test })
}

/// Loads MNIST-format files held in memory (the bundled sample).
pub fn load_bytes(files: [&[u8]; 4]) -> Result<Mnist> {
    let parse = |bytes: &[u8], stem: &str| -> Result<(Idx, PathBuf)> {
        let path = PathBuf::from(format!("<bundled>/{stem}.gz"));
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes), &mut raw).map_err(|e| Error::data(&path, e.to_string()))?;
        Ok((idx::parse(&raw, &path)?, path))
    };
    Ok(Mnist {
        train: split(parse(files[0], FILES[0])?, parse(files[1], FILES[1])?)?,
        test: split(parse(files[2], FILES[2])?, parse(files[3], FILES[3])?)?,
    })
}
