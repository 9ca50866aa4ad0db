//! Ready-made datasets: the bundled MNIST sample, and MNIST and Fashion-MNIST
//! by name, found in a cache folder or Debian's package, else downloaded from
//! their published addresses, checked against their SHA-256 and cached.

use std::path::{Path, PathBuf};

use strata_core::{Error, Result};

use crate::data::mnist::{self, Mnist, FILES};
use crate::io::download;

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

/// A dataset published as the four gzip-compressed MNIST-format files.
#[derive(Clone, Debug)]
pub struct Published {
    /// The name used by `--dataset` and as the cache sub-folder.
    pub name: &'static str,
    /// Addresses tried in turn; each file is `<base><stem>.gz`.
    pub base_urls: &'static [&'static str],
    /// SHA-256 of each `.gz` file, in the order of [`FILES`].
    pub sha256: [&'static str; 4],
    /// Where a Debian package installs the files, if one does.
    pub system_dir: Option<&'static str>,
}

/// MNIST (60,000 / 10,000 handwritten digits). Checksums as recorded by
/// TensorFlow Datasets for these addresses.
pub const MNIST: Published = Published {
    name: "mnist",
    base_urls: &["https://storage.googleapis.com/cvdf-datasets/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/"],
    sha256: [
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    ],
    system_dir: None,
};

/// Fashion-MNIST by Zalando Research (60,000 / 10,000 clothing images, MIT).
pub const FASHION_MNIST: Published = Published {
    name: "fashion-mnist",
    base_urls: &["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"],
    sha256: [
        "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
        "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
        "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
        "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
    ],
    system_dir: Some("/usr/share/datasets/fashion-mnist"),
};

/// The datasets `--dataset` knows, by name.
pub fn published(name: &str) -> Result<Published> {
    match name.to_ascii_lowercase().replace('_', "-").as_str() {
        "mnist" => Ok(MNIST),
        "fashion-mnist" => Ok(FASHION_MNIST),
        _ => Err(Error::argument("dataset", format!("unknown dataset '{name}' (known: mnist, fashion-mnist)"))),
    }
}

/// The cache folder: `STRATA_DATA`, else `$XDG_CACHE_HOME/strata`, else `~/.cache/strata`.
pub fn cache_dir() -> PathBuf {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    env("STRATA_DATA")
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("strata")))
        .or_else(|| env("HOME").map(|d| d.join(".cache/strata")))
        .unwrap_or_else(|| std::env::temp_dir().join("strata-cache"))
}

/// Whether `path` exists with SHA-256 `sum`.
fn intact(path: &Path, sum: &str) -> bool {
    std::fs::read(path).is_ok_and(|b| download::sha256_hex(&b) == sum)
}

/// Whether `dir` holds the dataset's four files with their published checksums.
fn verified(dir: &Path, set: &Published) -> bool {
    FILES.iter().zip(set.sha256).all(|(stem, sum)| intact(&dir.join(format!("{stem}.gz")), sum))
}

/// The folder holding `set`'s files: the cache, else the system folder, else
/// downloaded into the cache (from `STRATA_DATASETS_URL` when set, else the
/// published addresses), each file checked against its SHA-256.
pub fn fetch(set: &Published) -> Result<PathBuf> {
    let cache = cache_dir().join(set.name);
    if verified(&cache, set) {
        return Ok(cache);
    }
    if let Some(system) = set.system_dir.map(PathBuf::from).filter(|d| verified(d, set)) {
        return Ok(system);
    }
    let bases: Vec<String> = match std::env::var("STRATA_DATASETS_URL") {
        Ok(url) if !url.is_empty() => vec![url],
        _ => set.base_urls.iter().map(|s| s.to_string()).collect(),
    };
    download_into(set, &cache, &bases)?;
    Ok(cache)
}

/// Downloads `set`'s files into `dir` from the first of `bases` that serves
/// each with the right checksum; names every address that failed and why.
pub fn download_into(set: &Published, dir: &Path, bases: &[String]) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    for (stem, sum) in FILES.iter().zip(set.sha256) {
        let dest = dir.join(format!("{stem}.gz"));
        if intact(&dest, sum) {
            continue;
        }
        let mut failures = Vec::new();
        for base in bases {
            let url = format!("{}/{stem}.gz", base.trim_end_matches('/'));
            eprintln!("Downloading {url}");
            match download::fetch(&url, &dest, sum, true) {
                Ok(()) => break,
                Err(e) => failures.push(e.to_string()),
            }
        }
        if failures.len() == bases.len() {
            return Err(Error::data(&dest, format!("could not download {} ({}); put the four files in {} by hand", set.name, failures.join("; "), dir.display())));
        }
    }
    Ok(())
}

/// MNIST, from the cache or downloaded (about 11 MB).
pub fn mnist() -> Result<Mnist> {
    mnist::load_dir(&fetch(&MNIST)?)
}

/// Fashion-MNIST, from the cache, Debian's `dataset-fashion-mnist`, or downloaded (about 30 MB).
pub fn fashion_mnist() -> Result<Mnist> {
    mnist::load_dir(&fetch(&FASHION_MNIST)?)
}
