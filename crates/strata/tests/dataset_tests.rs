//! `Dataset`: in memory, streamed from IDX files and image folders, batched on
//! a background thread; the same numbers as training on arrays.

mod common;

use common::temp_dir;
use std::path::Path;

use strata::data::dataset::{Dataset, Source};
use strata::data::images::{ColorMode, ImageFolder, ImageOptions};
use strata::data::mnist::{load_dir, FILES};
use strata::data::stream::{FolderImages, IdxImages};
use strata::layers::{Dense, Flatten};
use strata::model::{FitOptions, Sequential};
use strata::prelude::*;
use strata::{Result, Rng};

fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 0x08, dims.len() as u8];
    dims.iter().for_each(|d| b.extend_from_slice(&d.to_be_bytes()));
    b.extend_from_slice(data);
    b
}

/// An MNIST-format folder of 6x6 random images (100 train, 20 test) with labels 0-3.
fn write_folder(dir: &Path) {
    let mut rng = Rng::new(5);
    let mut bytes = |n: usize, max: u32| (0..n).map(|_| (rng.next_u64() % max as u64) as u8).collect::<Vec<u8>>();
    std::fs::write(dir.join(FILES[0]), idx(&[100, 6, 6], &bytes(3600, 256))).unwrap();
    std::fs::write(dir.join(FILES[1]), idx(&[100], &bytes(100, 4))).unwrap();
    let gz = |b: Vec<u8>| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut e, &b).unwrap();
        e.finish().unwrap()
    };
    std::fs::write(dir.join(format!("{}.gz", FILES[2])), gz(idx(&[20, 6, 6], &bytes(720, 256)))).unwrap();
    std::fs::write(dir.join(FILES[3]), idx(&[20], &bytes(20, 4))).unwrap();
}

fn model() -> Sequential {
    let mut m = Sequential::with_seed(3);
    m.add(Flatten::new().input_shape([6, 6, 1])).unwrap();
    m.add(Dense::new(8).activation(Relu)).unwrap();
    m.add(Dense::new(4).activation(Softmax)).unwrap();
    m.compile("adam", "categorical_crossentropy", &["accuracy"]).unwrap();
    m
}

#[test]
fn streamed_idx_files_train_exactly_as_arrays() {
    let dir = temp_dir("stream");
    write_folder(&dir);
    let data = load_dir(&dir).unwrap();
    let options = || FitOptions { epochs: 3, batch_size: 16, verbose: 0, validation_split: 0.2, ..Default::default() };
    let mut a = model();
    let ha = a.fit(&data.train.images, data.train.one_hot(4).unwrap(), options()).unwrap();

    let (train, test) = IdxImages::open_dir(&dir, 4, true).unwrap();
    assert_eq!((train.len(), test.len(), train.input_shape()), (100, 20, vec![6, 6, 1]));
    let mut b = model();
    let hb = b.fit_dataset(&Dataset::new(train).batch_size(16), options()).unwrap();
    assert_eq!(values(&a.get_weights()), values(&b.get_weights()), "same weights, bit for bit");
    assert_eq!(ha.history, hb.history);
    // Evaluation over a streamed test split (gzip, decompressed to a spool file) equals arrays.
    let ea = a.evaluate(&data.test.images, data.test.one_hot(4).unwrap(), 7).unwrap();
    let eb = b.evaluate_dataset(&Dataset::new(test).batch_size(7)).unwrap();
    assert_eq!(ea.0, eb.0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn datasets_split_take_and_shuffle_reproducibly() {
    let x = Tensor::new((0..40).map(|v| v as f32).collect(), &[20, 2]).unwrap();
    let y = Tensor::new((0..20).map(|v| v as f32).collect(), &[20]).unwrap();
    let data = Dataset::from_arrays(x, y).unwrap().batch_size(6);
    let (train, val) = data.clone().split(0.25).unwrap();
    assert_eq!((train.len(), val.len()), (15, 5));
    let labels = |d: &Dataset, rng: &mut Rng| -> Vec<f32> { d.batches(d.epoch_order(rng)).unwrap().flat_map(|b| b.unwrap().y().to_vec()).collect() };
    assert_eq!(labels(&val, &mut Rng::new(0)), vec![15.0, 16.0, 17.0, 18.0, 19.0], "validation = the last samples, unshuffled");
    let (first, again) = (labels(&train, &mut Rng::new(9)), labels(&train, &mut Rng::new(9)));
    assert_eq!(first, again, "same seed, same order");
    assert_ne!(first, (0..15).map(|v| v as f32).collect::<Vec<_>>());
    let mut sorted = first.clone();
    sorted.sort_by(f32::total_cmp);
    assert_eq!(sorted, (0..15).map(|v| v as f32).collect::<Vec<_>>(), "each sample once");
    let sizes: Vec<usize> = train.batches((0..15).collect()).unwrap().map(|b| b.unwrap().x().shape()[0]).collect();
    assert_eq!(sizes, vec![6, 6, 3]);
    assert_eq!(data.take(4).len(), 4);
    assert!(Dataset::from_arrays(Tensor::zeros(&[3, 2]), Tensor::zeros(&[4])).err().unwrap().to_string().contains("same number of samples"));
}

/// A source whose batches fail from sample 40 on, to check errors cross the data thread.
struct Failing;

impl Source for Failing {
    fn len(&self) -> usize {
        1000
    }
    fn input_shape(&self) -> Vec<usize> {
        vec![6, 6, 1]
    }
    fn target_shape(&self) -> Vec<usize> {
        vec![4]
    }
    fn read(&self, indices: &[usize], x: &mut Vec<f32>, y: &mut Vec<f32>) -> Result<()> {
        if indices.iter().any(|&i| i >= 40) {
            return Err(strata::Error::data(Path::new("disk/sample-40.bin"), "unreadable"));
        }
        x.extend(std::iter::repeat_n(0.5, indices.len() * 36));
        indices.iter().for_each(|&i| y.extend((0..4).map(|k| if k == i % 4 { 1.0 } else { 0.0 })));
        Ok(())
    }
}

#[test]
fn errors_on_the_data_thread_stop_training_with_their_message() {
    let mut m = model();
    let data = Dataset::new(Failing).batch_size(8).shuffle(false).prefetch(3);
    let err = m.fit_dataset(&data, FitOptions { verbose: 0, ..Default::default() }).unwrap_err().to_string();
    assert!(err.contains("sample-40.bin") && err.contains("unreadable"), "{err}");
    // Dropping an epoch's batches early (the thread blocked on a full queue) does not hang.
    let mut batches = data.batches((0..1000).collect()).unwrap();
    assert!(batches.next().unwrap().is_ok());
    drop(batches);
}

#[test]
fn image_folders_stream_into_fit() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images/folder");
    let options = ImageOptions { image_size: Some((6, 6)), color_mode: ColorMode::Grayscale, scale: 1.0 / 255.0 };
    let folder = ImageFolder::open(&dir).unwrap();
    let (x, labels) = folder.load(&options).unwrap();
    let source = FolderImages::new(folder, options, true).unwrap();
    let mut streamed = Vec::new();
    for b in Dataset::new(source).batch_size(4).batches((0..6).collect()).unwrap() {
        streamed.extend(b.unwrap().x().to_vec());
    }
    assert_eq!(streamed, x.to_vec(), "decoded batch by batch = loaded at once");
    let source = FolderImages::new(ImageFolder::open(&dir).unwrap(), options, false).unwrap();
    let mut m = Sequential::with_seed(1);
    m.add(Flatten::new().input_shape([6, 6, 1])).unwrap();
    m.add(Dense::new(3).activation(Softmax)).unwrap();
    m.compile("sgd", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    let h = m.fit_dataset(&Dataset::new(source).batch_size(2), FitOptions { epochs: 2, verbose: 0, ..Default::default() }).unwrap();
    assert_eq!(h.get("loss").unwrap().len(), 2);
    assert_eq!(labels, vec![0, 0, 1, 1, 2, 2]);
    let no_size = ImageOptions { image_size: None, ..options };
    assert!(FolderImages::new(ImageFolder::open(&dir).unwrap(), no_size, true).is_err());
}

#[test]
fn bad_streamed_files_are_named() {
    let dir = temp_dir("bad-stream");
    write_folder(&dir);
    std::fs::write(dir.join(FILES[1]), idx(&[100], &[9; 100])).unwrap();
    let err = IdxImages::open_dir(&dir, 4, true).err().unwrap().to_string();
    assert!(err.contains("train-labels-idx1-ubyte") && err.contains("label 9"), "{err}");
    write_folder(&dir);
    std::fs::write(dir.join(FILES[0]), &idx(&[100, 6, 6], &[1; 3600])[..2000]).unwrap();
    let err = IdxImages::open_dir(&dir, 4, true).err().unwrap().to_string();
    assert!(err.contains("train-images-idx3-ubyte") && err.contains("truncated"), "{err}");
    write_folder(&dir);
    std::fs::write(dir.join(FILES[1]), idx(&[99], &[1; 99])).unwrap();
    let err = IdxImages::open_dir(&dir, 4, true).err().unwrap().to_string();
    assert!(err.contains("expected 100"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_dataset_built_by_hand_is_checked_batch_by_batch() {
    let mut m = model();
    let mut x = vec![0.5; 8 * 36];
    x[5 * 36] = f32::NAN;
    let y = Tensor::new((0..8).flat_map(|i| (0..4).map(move |k| if k == i % 4 { 1.0 } else { 0.0 })).collect(), &[8, 4]).unwrap();
    let data = Dataset::from_arrays(Tensor::new(x, &[8, 6, 6, 1]).unwrap(), y).unwrap().batch_size(4).shuffle(false);
    let err = m.fit_dataset(&data, FitOptions { verbose: 0, ..Default::default() }).unwrap_err().to_string();
    assert!(err.contains("input value") && err.contains("batch 2"), "{err}");
    let wrong = Dataset::from_arrays(Tensor::zeros(&[8, 6, 6, 1]), Tensor::zeros(&[8, 3])).unwrap();
    let err = m.evaluate_dataset(&wrong).unwrap_err().to_string();
    assert!(err.contains("(8, 3)") || err.contains("3)"), "{err}");
}

/// Weights as plain values, to compare two models.
fn values(weights: &[Tensor]) -> Vec<Vec<f32>> {
    weights.iter().map(Tensor::to_vec).collect()
}
