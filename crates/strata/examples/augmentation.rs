//! Does augmentation help where data is scarce? The headline CNN trained on
//! the first 2,000 Fashion-MNIST training images, with and without an
//! augmentation stack (horizontal flips, small rotations, zooms and shifts),
//! the same epochs, several seeds; tested on all 10,000 test images. The
//! stack runs either inside the model (layers at its top, active only in
//! training) or on the dataset's reading thread (`Dataset::augment`).
//!
//!     cargo run --release -p strata --example augmentation -- --data ../shared/data/fashion-mnist
//!
//! Options: `--train 2000 --epochs 20 --seeds 3`. Prints one JSON line per
//! run and a summary: test accuracy (mean and spread) and training samples/s.

mod flags;

use flags::flag;

use std::time::Instant;

use strata::data::dataset::Dataset;
use strata::layers::{RandomFlip, RandomRotation, RandomTranslation, RandomZoom, Rescaling};
use strata::prelude::*;

/// The stack named by `--stack` (default `flip,translate`), each geometric
/// layer with `--interpolation` (default `nearest`: whole-pixel moves, no blur).
fn augmentations() -> Vec<Box<dyn Layer>> {
    let interpolation = flag("--interpolation", "nearest");
    flag("--stack", "flip,translate")
        .split(',')
        .map(|name| -> Box<dyn Layer> {
            match name {
                "flip" => Box::new(RandomFlip::new("horizontal")),
                "rotate" => Box::new(RandomRotation::new(0.03).fill_mode("constant").interpolation(&interpolation)),
                "zoom" => Box::new(RandomZoom::new(0.1).fill_mode("constant").interpolation(&interpolation)),
                "translate" => Box::new(RandomTranslation::new(0.1, 0.1).fill_mode("constant").interpolation(&interpolation)),
                other => panic!("--stack: unknown augmentation '{other}' (flip, rotate, zoom, translate)"),
            }
        })
        .collect()
}

/// The headline CNN, with the augmentation layers in front when `augment`.
fn model(seed: u64, augment: bool) -> strata::Result<Sequential> {
    let mut m = Sequential::with_seed(seed);
    if augment {
        m.add(Rescaling::new(1.0).input_shape([28, 28, 1]))?;
        for layer in augmentations() {
            m.push(layer)?;
        }
    }
    let first = Conv2D::new(32, 3).activation(Relu);
    m.add(if augment { first } else { first.input_shape([28, 28, 1]) })?;
    m.add(MaxPooling2D::new(2))?;
    for _ in 0..2 {
        m.add(Conv2D::new(64, 3).activation(Relu))?;
        m.add(MaxPooling2D::new(2))?;
    }
    m.add(Flatten::new())?;
    m.add(Dense::new(64).activation(Relu))?;
    m.add(Dense::new(10).activation(Softmax))?;
    m.compile("adam", "categorical_crossentropy", &["accuracy"])?;
    Ok(m)
}

fn main() -> strata::Result<()> {
    strata::warn_if_unoptimized();
    let dir = flag("--data", "../shared/data/fashion-mnist");
    let number = |name: &str, default: &str| flag(name, default).parse::<usize>().map_err(|_| strata::Error::argument(name, "needs a whole number"));
    let (n, epochs, seeds) = (number("--train", "2000")?, number("--epochs", "20")?, number("--seeds", "3")? as u64);
    let data = strata::datasets::load_idx_dir(std::path::Path::new(&dir))?;
    let train = data.train.take(n)?;
    let (x, y) = (train.images.clone(), train.one_hot(10)?);
    let (test_x, test_y) = (data.test.images.clone(), data.test.one_hot(10)?);
    if let Some(path) = std::env::args().skip_while(|a| a != "--grid").nth(1) {
        // What the stack does: the first 32 images, then the same augmented, row by row.
        let data = Dataset::from_arrays(x.narrow(0, 0, 32)?, y.narrow(0, 0, 32)?)?.batch_size(32).augment(augmentations(), 1)?;
        let augmented = data.training_batches((0..32).collect(), 0)?.next().expect("one batch")?.inputs.remove(0);
        let pairs = Tensor::concat(&[x.narrow(0, 0, 16)?, augmented.narrow(0, 0, 16)?, x.narrow(0, 16, 16)?, augmented.narrow(0, 16, 16)?], 0)?;
        strata::data::images::write_grid(std::path::Path::new(&path), &pairs, 16, (0.0, 1.0))?;
        println!("wrote {path}");
        return Ok(());
    }
    let mut summary: Vec<(&str, Vec<f64>, Vec<f64>)> = Vec::new();
    for variant in ["none", "in the model", "on the reading thread"] {
        let (mut accuracies, mut speeds) = (Vec::new(), Vec::new());
        for seed in 1..=seeds {
            let mut m = model(seed, variant == "in the model")?;
            let options = FitOptions { epochs, batch_size: 32, verbose: 0, ..Default::default() };
            let started = Instant::now();
            let history = match variant {
                "on the reading thread" => {
                    let dataset = Dataset::from_arrays(x.clone(), y.clone())?.batch_size(32).augment(augmentations(), seed)?;
                    m.fit_dataset(&dataset, options)?
                }
                _ => m.fit(&x, &y, options)?,
            };
            let last = |key: &str| history.get(key).and_then(|v| v.last().copied()).unwrap_or(f64::NAN);
            let speed = (n * epochs) as f64 / started.elapsed().as_secs_f64();
            let accuracy = m.evaluate(&test_x, &test_y, 256)?.get("accuracy").unwrap_or(f64::NAN);
            println!("{}", serde_json::json!({ "augmentation": variant, "seed": seed, "test_accuracy": accuracy, "train_accuracy": last("accuracy"), "train_loss": last("loss"), "train_samples_per_s": speed }));
            accuracies.push(accuracy);
            speeds.push(speed);
        }
        summary.push((variant, accuracies, speeds));
    }
    let stats = |v: &[f64]| {
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let spread = (v.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / (v.len().max(2) - 1) as f64).sqrt();
        (mean, spread, v.iter().copied().fold(f64::INFINITY, f64::min), v.iter().copied().fold(f64::NEG_INFINITY, f64::max))
    };
    println!("\n{n} training images, {epochs} epochs, {seeds} seeds; test accuracy on {} images", test_x.shape()[0]);
    println!("{:<24} {:>10} {:>8} {:>15} {:>18}", "augmentation", "mean", "std", "min-max", "train samples/s");
    for (variant, acc, speed) in &summary {
        let (m, s, lo, hi) = stats(acc);
        let (sm, ..) = stats(speed);
        println!("{variant:<24} {m:>10.4} {s:>8.4} {:>15} {sm:>18.0}", format!("{lo:.4}-{hi:.4}"));
    }
    Ok(())
}
