//! What the two GAN examples share: their command line, the digits, the
//! training step (a custom `TrainStep`: the discriminator is the model that
//! `fit` trains, the step also updates the generator), and a callback that
//! writes a grid of samples after every epoch.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use strata::losses::BinaryCrossentropy;
use strata::model::{Callback, Control, Logs, TrainingModel};
use strata::prelude::*;
use strata::Rng;

/// Command-line options of both examples.
pub struct Args {
    pub data: Option<PathBuf>,
    pub epochs: usize,
    pub batch_size: usize,
    pub latent: usize,
    pub learning_rate: f32,
    pub out: PathBuf,
    pub save: Option<PathBuf>,
    pub seed: u64,
    pub bench: Option<usize>,
    pub limit: Option<usize>,
    pub judge: Option<PathBuf>,
    pub generator: Option<PathBuf>,
}

impl Args {
    /// Reads `--flag value` pairs; `usage` is printed for `--help` or a bad flag.
    pub fn parse(usage: &str, epochs: usize, out: &str) -> Args {
        let mut a = Args { data: None, epochs, batch_size: 64, latent: 128, learning_rate: 2e-4, out: out.into(), save: None, seed: 1, bench: None, limit: None, judge: None, generator: None };
        let argv: Vec<String> = std::env::args().skip(1).collect();
        let fail = |msg: String| -> ! {
            eprintln!("error: {msg}\n\n{usage}");
            std::process::exit(2)
        };
        let mut it = argv.iter();
        while let Some(flag) = it.next() {
            if flag == "--help" || flag == "-h" {
                println!("{usage}");
                std::process::exit(0);
            }
            let value = it.next().unwrap_or_else(|| fail(format!("{flag} needs a value")));
            let number = |v: &str| v.parse::<usize>().ok().filter(|n| *n > 0).unwrap_or_else(|| fail(format!("{flag} needs a positive whole number, got '{v}'")));
            match flag.as_str() {
                "--data" => a.data = Some(value.into()),
                "--epochs" => a.epochs = number(value),
                "--batch-size" => a.batch_size = number(value),
                "--latent-dim" => a.latent = number(value),
                "--learning-rate" => a.learning_rate = value.parse().ok().filter(|v: &f32| *v > 0.0 && v.is_finite()).unwrap_or_else(|| fail(format!("--learning-rate needs a positive number, got '{value}'"))),
                "--out" => a.out = value.into(),
                "--save" => a.save = Some(value.into()),
                "--seed" => a.seed = value.parse().unwrap_or_else(|_| fail(format!("--seed needs a whole number, got '{value}'"))),
                "--bench" => a.bench = Some(number(value)),
                "--limit" => a.limit = Some(number(value)),
                "--judge" => a.judge = Some(value.into()),
                "--generator" => a.generator = Some(value.into()),
                _ => fail(format!("unknown flag {flag}")),
            }
        }
        a
    }
}

/// All digits of the bundled MNIST sample (or of an MNIST-format folder),
/// training and test files together, scaled to `[-1, 1]` (the generator's
/// tanh range), with their labels.
pub fn digits(args: &Args) -> strata::Result<(Tensor, Vec<usize>)> {
    let data = match &args.data {
        Some(dir) => strata::datasets::load_idx_dir(dir)?,
        None => strata::datasets::mnist_sample()?,
    };
    let images = Tensor::concat(&[data.train.images.clone(), data.test.images.clone()], 0)?;
    let mut labels = data.train.labels.clone();
    labels.extend(&data.test.labels);
    let n = args.limit.unwrap_or(labels.len()).min(labels.len());
    Ok((images.narrow(0, 0, n)?.scale(2.0).add_scalar(-1.0), labels[..n].to_vec()))
}

/// Standard normal noise `[n, latent]`.
pub fn noise(rng: &mut Rng, n: usize, latent: usize) -> Tensor {
    Tensor::new((0..n * latent).map(|_| rng.normal()).collect(), &[n, latent]).expect("the shape fits")
}

/// The keras-io GAN step. The discriminator sees generated images labelled 1
/// and real ones labelled 0 (plus a little label noise), in one batch; then
/// the generator is updated to make it answer 0 ("real") for new images.
/// With `classes`, both networks take the class label as a second input
/// (the batch's second input holds the real images' labels; generated
/// images get random ones).
pub struct GanStep {
    pub generator: Arc<Mutex<Model>>,
    pub optimizer: Adam,
    pub rng: Rng,
    pub latent: usize,
    pub classes: Option<usize>,
}

impl TrainStep for GanStep {
    fn train_step(&mut self, discriminator: &mut Model, batch: &Batch, logs: &mut StepLogs) -> strata::Result<()> {
        let n = batch.len();
        let bce = BinaryCrossentropy::new(true);
        let generator = self.generator.lock().unwrap_or_else(|e| e.into_inner());
        let labels = |rng: &mut Rng| -> Option<Tensor> { self.classes.map(|k| Tensor::new((0..n).map(|_| rng.below(k) as f32).collect(), &[n, 1]).expect("the shape fits")) };
        let inputs = |z: Tensor, y: &Option<Tensor>| -> Vec<Tensor> { std::iter::once(z).chain(y.clone()).collect() };

        // The discriminator's step: generated images (1) and real ones (0).
        let fake_labels = labels(&mut self.rng);
        let fake = {
            let _g = strata::no_grad();
            generator.call_many(&inputs(noise(&mut self.rng, n, self.latent), &fake_labels), false)?.remove(0)
        };
        let images = Tensor::concat(&[fake, batch.x().clone()], 0)?;
        let class_ids = fake_labels.map(|f| Tensor::concat(&[f, batch.inputs[1].clone()], 0)).transpose()?;
        let targets: Vec<f32> = (0..2 * n).map(|i| if i < n { 1.0 } else { 0.0 } + 0.05 * self.rng.uniform()).collect();
        let predictions = discriminator.call_many(&inputs(images, &class_ids), true)?.remove(0);
        let d_loss = bce.call(&Tensor::new(targets, &[2 * n, 1])?, &predictions)?;
        discriminator.apply_gradients(&d_loss.backward()?)?;

        // The generator's step: make the discriminator say "real" (0).
        let wanted = labels(&mut self.rng);
        let generated = generator.call_many(&inputs(noise(&mut self.rng, n, self.latent), &wanted), true)?.remove(0);
        let judged = discriminator.call_many(&inputs(generated, &wanted), true)?.remove(0);
        let g_loss = bce.call(&Tensor::zeros(&[n, 1]), &judged)?;
        self.optimizer.apply(&generator.trainable_weights(), &g_loss.backward()?)?;
        logs.mean("d_loss", d_loss.item()? as f64, n as f64);
        logs.mean("g_loss", g_loss.item()? as f64, n as f64);
        Ok(())
    }
}

/// Writes `<out>/epoch-NNN.png`: the generator's images for fixed inputs
/// (the same noise, and labels, every epoch, so the grids show progress).
pub struct SampleGrid {
    pub generator: Arc<Mutex<Model>>,
    pub inputs: Vec<Tensor>,
    pub columns: usize,
    pub out: PathBuf,
}

impl Callback for SampleGrid {
    fn on_epoch_end(&mut self, epoch: usize, _logs: &mut Logs, _model: &mut dyn TrainingModel) -> strata::Result<Control> {
        let images = self.generator.lock().unwrap_or_else(|e| e.into_inner()).call_many(&self.inputs, false)?.remove(0);
        std::fs::create_dir_all(&self.out).map_err(|e| strata::Error::io(&self.out, e))?;
        strata::data::images::write_grid(&self.out.join(format!("epoch-{:03}.png", epoch + 1)), &images, self.columns, (-1.0, 1.0))?;
        Ok(Control::Continue)
    }
}

/// Runs `steps` training steps (after 3 of warm-up) and prints their median
/// time and samples per second as one JSON line, as `tools/bench/keras_dcgan.py` does.
pub fn bench(discriminator: &mut Model, step: &mut GanStep, x: &[Tensor], batch_size: usize, steps: usize) -> strata::Result<()> {
    let inputs = x.iter().map(|t| t.narrow(0, 0, batch_size)).collect::<strata::Result<_>>()?;
    let batch = Batch { inputs, targets: vec![Tensor::zeros(&[batch_size, 1])], sample_weight: None };
    let mut times = Vec::new();
    for i in 0..steps + 3 {
        let started = Instant::now();
        strata::core::threads::run_step(|| step.train_step(discriminator, &batch, &mut StepLogs::default()))?;
        if i >= 3 {
            times.push(started.elapsed().as_secs_f64());
        }
    }
    if std::env::var_os("STRATA_PROFILE").is_some() {
        strata::core::profile::set_enabled(true);
        strata::core::threads::run_step(|| step.train_step(discriminator, &batch, &mut StepLogs::default()))?;
        strata::core::profile::set_enabled(false);
        let mut entries = strata::core::profile::take();
        entries.sort_by(|a, b| b.total.cmp(&a.total));
        for e in entries {
            eprintln!("{:>9.2} ms  {:?} {} ({} calls)", e.total.as_secs_f64() * 1e3, e.phase, e.scope, e.calls);
        }
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!("{}", serde_json::json!({ "framework": "strata", "steps_per_s": 1.0 / median, "samples_per_s": batch_size as f64 / median, "step_ms_median": median * 1e3 }));
    Ok(())
}
