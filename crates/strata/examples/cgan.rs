//! A conditional GAN on 28x28 digits: the generator draws the digit it is
//! asked for, and the discriminator sees the label too (a projection
//! discriminator), so it rejects a good "3" offered as a "7".
//!
//!     cargo run --release -p strata --example cgan -- --epochs 30 --save G.safetensors
//!
//! The saved generator is an ordinary Strata model with two inputs, `noise`
//! (float32, `(latent_dim,)`) and `label` (int32 class id, `(1,)`), and one
//! output, a batch of 28x28x1 images in [-1, 1]:
//!
//!     strata predict --model G.safetensors --x inputs.npz --out images.npy
//!
//! `--judge classifier.safetensors` (a digit classifier, e.g. from
//! `strata train --save`) labels 1,000 generated digits, 100 per class, and
//! reports how often it agrees with the class asked for, and how varied the
//! digits of each class are (`--generator G.safetensors` judges a saved
//! generator without training).

mod gan;

use std::sync::{Arc, Mutex};

use gan::{Args, GanStep, SampleGrid};
use strata::layers::{Dot, Dropout, Embedding, LeakyReLU, Reshape};
use strata::losses::BinaryCrossentropy;
use strata::prelude::*;
use strata::{DType, Rng};

const USAGE: &str = "cgan [--data MNIST_DIR] [--epochs N] [--batch-size 64] [--latent-dim 128] [--learning-rate 2e-4] [--out DIR] [--save G.safetensors] [--judge CLASSIFIER.safetensors [--generator G.safetensors]] [--seed S] [--limit N] [--bench STEPS]";
const CLASSES: usize = 10;

fn generator(latent: usize, seed: u64) -> strata::Result<Model> {
    let (z, label) = (Input::named([latent], "noise"), Input::typed([1], "label", DType::I32));
    let embedded = Flatten::new().apply(&Embedding::new(CLASSES, 50).apply(&label)?)?;
    let mut x = Dense::new(7 * 7 * 64).apply(&Concatenate::new().apply([&z, &embedded])?)?;
    x = LeakyReLU::new(0.2).apply(&x)?;
    x = Reshape::new([7, 7, 64]).apply(&x)?;
    for filters in [64, 32] {
        x = Conv2DTranspose::new(filters, 4).strides(2).padding("same").apply(&x)?;
        x = LeakyReLU::new(0.2).apply(&x)?;
    }
    let image = Conv2D::new(1, 7).padding("same").activation("tanh").apply(&x)?;
    Model::with_seed(&[z, label], &[image], seed)
}

/// A projection discriminator (Miyato and Koyama, 2018): the image's
/// features `h` give `Dense(1)(h) + <embed(label), h>`, so the label decides
/// which direction in feature space reads as "real".
fn discriminator(seed: u64) -> strata::Result<Model> {
    let (image, label) = (Input::named([28, 28, 1], "image"), Input::typed([1], "label", DType::I32));
    let mut x = image.clone();
    for filters in [64, 128] {
        x = Conv2D::new(filters, 4).strides(2).padding("same").apply(&x)?;
        x = LeakyReLU::new(0.2).apply(&x)?;
    }
    let features = Dropout::new(0.2).apply(&Flatten::new().apply(&x)?)?;
    let class_direction = Flatten::new().apply(&Embedding::new(CLASSES, 7 * 7 * 128).apply(&label)?)?;
    let projection = Dot::new(1).apply([&features, &class_direction])?;
    let logit = Add::new().apply([&Dense::new(1).apply(&features)?, &projection])?;
    Model::with_seed(&[image, label], &[logit], seed)
}

/// Noise and labels for `per_class` digits of every class, class by class.
fn requests(latent: usize, per_class: usize, seed: u64) -> Vec<Tensor> {
    let labels: Vec<f32> = (0..CLASSES * per_class).map(|i| (i / per_class) as f32).collect();
    vec![gan::noise(&mut Rng::new(seed), CLASSES * per_class, latent), Tensor::new(labels, &[CLASSES * per_class, 1]).expect("the shape fits")]
}

/// Mean distance between the images of a set, pair by pair (pixels in [-1, 1]).
fn spread(images: &[Vec<f32>]) -> f64 {
    let mut total = 0.0;
    let mut pairs = 0;
    for i in 0..images.len() {
        for j in i + 1..images.len() {
            total += images[i].iter().zip(&images[j]).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>().sqrt();
            pairs += 1;
        }
    }
    total / pairs.max(1) as f64
}

/// Asks for 100 digits of each class and has `classifier` (trained on
/// [0, 1] pixels) name them; compares each class's spread with real digits'.
fn judge(generator: &Model, classifier: &std::path::Path, latent: usize, real: &Tensor, labels: &[usize]) -> strata::Result<()> {
    let per_class = 100;
    let images = generator.call_many(&requests(latent, per_class, 2024), false)?.remove(0);
    let mut model = Model::load(classifier)?;
    let predicted = model.predict(images.add_scalar(1.0).scale(0.5), 256)?.argmax(-1)?.to_indices()?;
    let pixels = images.to_vec();
    let one = |v: &[f32], i: usize| v[i * 784..(i + 1) * 784].to_vec();
    let real_pixels = real.to_vec();
    let mut report = Vec::new();
    let (mut hits, mut ratios) = (0, Vec::new());
    for k in 0..CLASSES {
        let asked: Vec<usize> = (k * per_class..(k + 1) * per_class).collect();
        let right = asked.iter().filter(|&&i| predicted[i] == k).count();
        hits += right;
        let fake: Vec<Vec<f32>> = asked.iter().map(|&i| one(&pixels, i)).collect();
        let truth: Vec<Vec<f32>> = labels.iter().enumerate().filter(|(_, &l)| l == k).take(per_class).map(|(i, _)| one(&real_pixels, i)).collect();
        let (s_fake, s_real) = (spread(&fake), spread(&truth));
        ratios.push(s_fake / s_real);
        let mut named = [0usize; CLASSES];
        asked.iter().for_each(|&i| named[predicted[i]] += 1);
        report.push(serde_json::json!({ "class": k, "accuracy": right as f64 / per_class as f64, "named_as": named, "spread": s_fake, "real_spread": s_real }));
    }
    let summary = serde_json::json!({
        "accuracy": hits as f64 / (CLASSES * per_class) as f64,
        "spread_ratio_mean": ratios.iter().sum::<f64>() / CLASSES as f64,
        "spread_ratio_min": ratios.iter().copied().fold(f64::INFINITY, f64::min),
        "classes": report,
    });
    println!("{summary}");
    Ok(())
}

/// Runs [`judge`] every `every` epochs during training, to watch the classes emerge.
struct JudgeEvery {
    every: usize,
    generator: Arc<Mutex<Model>>,
    classifier: std::path::PathBuf,
    latent: usize,
    real: Tensor,
    labels: Vec<usize>,
}

impl strata::model::Callback for JudgeEvery {
    fn on_epoch_end(&mut self, epoch: usize, _logs: &mut strata::model::Logs, _model: &mut dyn strata::model::TrainingModel) -> strata::Result<strata::model::Control> {
        if (epoch + 1).is_multiple_of(self.every) {
            print!("epoch {}: ", epoch + 1);
            judge(&self.generator.lock().unwrap_or_else(|e| e.into_inner()), &self.classifier, self.latent, &self.real, &self.labels)?;
        }
        Ok(strata::model::Control::Continue)
    }
}

fn main() -> strata::Result<()> {
    strata::warn_if_unoptimized();
    let args = Args::parse(USAGE, 30, "cgan-samples");
    let (images, labels) = gan::digits(&args)?;
    if let (Some(saved), Some(classifier)) = (&args.generator, &args.judge) {
        // Judge a generator saved earlier, without training.
        return judge(&Model::load(saved)?, classifier, args.latent, &images, &labels);
    }
    let ids = Tensor::new(labels.iter().map(|&l| l as f32).collect(), &[labels.len(), 1])?;
    let generator = Arc::new(Mutex::new(generator(args.latent, args.seed)?));
    let mut discriminator = discriminator(args.seed + 1)?;
    let adam = || Adam::new(args.learning_rate).and_then(|a| a.betas(0.5, 0.999));
    discriminator.compile(adam()?, BinaryCrossentropy::new(true), &[])?;
    let mut step = GanStep { generator: generator.clone(), optimizer: adam()?, rng: Rng::new(args.seed + 2), latent: args.latent, classes: Some(CLASSES) };
    if let Some(steps) = args.bench {
        return gan::bench(&mut discriminator, &mut step, &[images, ids], args.batch_size, steps);
    }
    let grid = SampleGrid { generator: generator.clone(), inputs: requests(args.latent, 10, 99), columns: 10, out: args.out.clone() };
    discriminator.set_train_step(step);
    let mut callbacks: Vec<Box<dyn strata::model::Callback>> = vec![Box::new(grid)];
    if let Some(classifier) = &args.judge {
        callbacks.push(Box::new(JudgeEvery { every: 5, generator: generator.clone(), classifier: classifier.clone(), latent: args.latent, real: images.clone(), labels: labels.clone() }));
    }
    let options = FitOptions { epochs: args.epochs, batch_size: args.batch_size, callbacks, ..Default::default() };
    // The real images and their labels are the discriminator's two inputs; the targets are unused.
    discriminator.fit(vec![images.clone(), ids], Tensor::zeros(&[labels.len(), 1]), options)?;
    let generator = generator.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = &args.save {
        generator.save(path)?;
        println!("saved the generator to {}", path.display());
    }
    if let Some(classifier) = &args.judge {
        judge(&generator, classifier, args.latent, &images, &labels)?;
    }
    println!("samples: {}/epoch-{:03}.png (one row per class)", args.out.display(), args.epochs);
    Ok(())
}
