//! A DCGAN on 28x28 digits, the keras-io DCGAN's shape: a generator
//! (Dense -> Reshape -> two stride-2 Conv2DTranspose -> tanh) against a
//! discriminator (two stride-2 Conv2D with LeakyReLU -> Dense(1)), two Adam
//! optimizers, trained by `fit` through a custom training step.
//!
//!     cargo run --release -p strata --example dcgan -- --epochs 10 --save dcgan.safetensors
//!
//! Writes `dcgan-samples/epoch-NNN.png` after every epoch. `--bench 30`
//! times 30 training steps instead (`tools/bench/dcgan_ab.py` runs it
//! interleaved with the same step in Keras).

mod gan;

use std::sync::{Arc, Mutex};

use gan::{Args, GanStep, SampleGrid};
use strata::layers::{LeakyReLU, Reshape};
use strata::losses::BinaryCrossentropy;
use strata::prelude::*;
use strata::Rng;

const USAGE: &str = "dcgan [--data MNIST_DIR] [--epochs N] [--batch-size 64] [--latent-dim 128] [--learning-rate 2e-4] [--out DIR] [--save G.safetensors] [--seed S] [--limit N] [--bench STEPS]";

fn generator(latent: usize, seed: u64) -> strata::Result<Model> {
    let z = Input::named([latent], "noise");
    let mut x = Dense::new(7 * 7 * 128).apply(&z)?;
    x = LeakyReLU::new(0.2).apply(&x)?;
    x = Reshape::new([7, 7, 128]).apply(&x)?;
    for filters in [128, 64] {
        x = Conv2DTranspose::new(filters, 4).strides(2).padding("same").apply(&x)?;
        x = LeakyReLU::new(0.2).apply(&x)?;
    }
    let image = Conv2D::new(1, 7).padding("same").activation("tanh").apply(&x)?;
    Model::with_seed(&[z], &[image], seed)
}

fn discriminator(seed: u64) -> strata::Result<Model> {
    let image = Input::named([28, 28, 1], "image");
    let mut x = image.clone();
    for filters in [64, 128] {
        x = Conv2D::new(filters, 4).strides(2).padding("same").apply(&x)?;
        x = LeakyReLU::new(0.2).apply(&x)?;
    }
    x = Flatten::new().apply(&x)?;
    x = strata::layers::Dropout::new(0.2).apply(&x)?;
    let logit = Dense::new(1).apply(&x)?;
    Model::with_seed(&[image], &[logit], seed)
}

fn main() -> strata::Result<()> {
    strata::warn_if_unoptimized();
    let args = Args::parse(USAGE, 10, "dcgan-samples");
    let (images, _) = gan::digits(&args)?;
    let generator = Arc::new(Mutex::new(generator(args.latent, args.seed)?));
    let mut discriminator = discriminator(args.seed + 1)?;
    let adam = || Adam::new(args.learning_rate).and_then(|a| a.betas(0.5, 0.999));
    discriminator.compile(adam()?, BinaryCrossentropy::new(true), &[])?;
    let mut step = GanStep { generator: generator.clone(), optimizer: adam()?, rng: Rng::new(args.seed + 2), latent: args.latent, classes: None };
    let targets = Tensor::zeros(&[images.shape()[0], 1]);
    if let Some(steps) = args.bench {
        return gan::bench(&mut discriminator, &mut step, &[images], args.batch_size, steps);
    }
    let grid = SampleGrid { generator: generator.clone(), inputs: vec![gan::noise(&mut Rng::new(99), 64, args.latent)], columns: 8, out: args.out.clone() };
    discriminator.set_train_step(step);
    let options = FitOptions { epochs: args.epochs, batch_size: args.batch_size, callbacks: vec![Box::new(grid)], ..Default::default() };
    discriminator.fit(&images, &targets, options)?;
    if let Some(path) = &args.save {
        generator.lock().unwrap_or_else(|e| e.into_inner()).save(path)?;
        println!("saved the generator to {}", path.display());
    }
    println!("samples: {}/epoch-{:03}.png", args.out.display(), args.epochs);
    Ok(())
}
