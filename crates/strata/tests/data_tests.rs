//! Reading datasets: the bundled sample, IDX folders, and broken files.

mod common;

use common::temp_dir;
use std::io::Write;
use std::path::Path;

use strata::data::mnist::{load_dir, FILES};

fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 0x08, dims.len() as u8];
    dims.iter().for_each(|d| b.extend_from_slice(&d.to_be_bytes()));
    b.extend_from_slice(data);
    b
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// A valid folder of 3 train and 2 test 4x4 images, plain IDX files.
fn write_valid(dir: &Path) {
    std::fs::write(dir.join(FILES[0]), idx(&[3, 4, 4], &[255; 48])).unwrap();
    std::fs::write(dir.join(FILES[1]), idx(&[3], &[0, 1, 2])).unwrap();
    std::fs::write(dir.join(FILES[2]), idx(&[2, 4, 4], &[0; 32])).unwrap();
    std::fs::write(dir.join(FILES[3]), idx(&[2], &[3, 4])).unwrap();
}

#[test]
fn reads_plain_and_gzip_idx_folders() {
    let dir = temp_dir("valid");
    write_valid(&dir);
    let d = load_dir(&dir).unwrap();
    assert_eq!(d.train.images.shape(), &[3, 4, 4, 1]);
    assert_eq!(d.train.labels, vec![0, 1, 2]);
    assert!(d.train.images.to_vec().iter().all(|&v| v == 1.0), "pixels scaled to [0, 1]");
    std::fs::write(dir.join(format!("{}.gz", FILES[3])), gz(&idx(&[2], &[7, 8]))).unwrap();
    std::fs::remove_file(dir.join(FILES[3])).unwrap();
    assert_eq!(load_dir(&dir).unwrap().test.labels, vec![7, 8]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn broken_files_are_named_in_the_error() {
    let dir = temp_dir("broken");
    let err = |dir: &Path| load_dir(dir).unwrap_err().to_string();

    let missing = dir.join("nope");
    assert!(err(&missing).contains("not found") && err(&missing).contains("nope"));

    write_valid(&dir);
    std::fs::remove_file(dir.join(FILES[2])).unwrap();
    let e = err(&dir);
    assert!(e.contains("missing t10k-images-idx3-ubyte"), "{e}");

    write_valid(&dir);
    std::fs::write(dir.join(FILES[0]), &idx(&[3, 4, 4], &[255; 48])[..40]).unwrap();
    let e = err(&dir);
    assert!(e.contains("train-images-idx3-ubyte") && e.contains("truncated"), "{e}");

    write_valid(&dir);
    std::fs::write(dir.join(FILES[1]), b"garbage!").unwrap();
    let e = err(&dir);
    assert!(e.contains("train-labels-idx1-ubyte") && e.contains("magic"), "{e}");

    write_valid(&dir);
    std::fs::write(dir.join(FILES[1]), idx(&[2], &[0, 1])).unwrap();
    let e = err(&dir);
    assert!(e.contains("2 labels for 3 images"), "{e}");

    write_valid(&dir);
    let good = gz(&idx(&[3, 4, 4], &[255; 48]));
    std::fs::remove_file(dir.join(FILES[0])).unwrap();
    std::fs::write(dir.join(format!("{}.gz", FILES[0])), &good[..good.len() - 12]).unwrap();
    let e = err(&dir);
    assert!(e.contains("train-images-idx3-ubyte.gz"), "{e}");

    // A header promising far more data than the file could hold is refused before allocating.
    std::fs::write(dir.join(format!("{}.gz", FILES[0])), gz(&idx(&[60000, 4000, 4000], &[]))).unwrap();
    let e = err(&dir);
    assert!(e.contains("more than") || e.contains("truncated"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn fashion_mnist_from_shared_when_present() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/fashion-mnist");
    if !dir.is_dir() {
        // Written to the stream directly, so the test harness does not capture it.
        let _ = writeln!(std::io::stderr(), "fashion_mnist_from_shared_when_present: skipped, {} is not present", dir.display());
        return;
    }
    let d = load_dir(&dir).unwrap();
    assert_eq!(d.train.images.shape(), &[60000, 28, 28, 1]);
    assert_eq!(d.test.len(), 10000);
    assert!(d.train.labels.iter().all(|&l| l < 10));
}
