//! The training loop: `fit`, `evaluate`, `predict` and one training step.

use std::time::Instant;

use strata_core::profile::{self, Phase};
use strata_core::{fmt_shape, no_grad, Error, Result, Tensor};

use super::callbacks::{Callback, Control, History, Logs, TrainInfo};
use super::progress::ProgressBar;
use super::sequential::Sequential;
use crate::metrics::Mean;

/// Arguments of [`Sequential::fit`], with Keras's defaults.
pub struct FitOptions {
    /// Index of the last epoch to train (Keras's `epochs`); default 1.
    pub epochs: usize,
    /// Samples per gradient update; default 32.
    pub batch_size: usize,
    /// Reshuffle the training samples before each epoch; default true.
    pub shuffle: bool,
    /// Fraction of the data, taken from the end before shuffling, held out for validation.
    pub validation_split: f32,
    /// Validation inputs and targets; overrides `validation_split`.
    pub validation_data: Option<(Tensor, Tensor)>,
    /// The epoch to start from (resuming); default 0.
    pub initial_epoch: usize,
    /// 0 = silent, 1 = progress bar (plain lines when not a terminal), 2 = one line per epoch.
    pub verbose: u8,
    /// Extra callbacks, called after the built-in history and progress display.
    pub callbacks: Vec<Box<dyn Callback>>,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            epochs: 1,
            batch_size: 32,
            shuffle: true,
            validation_split: 0.0,
            validation_data: None,
            initial_epoch: 0,
            verbose: 1,
            callbacks: Vec::new(),
        }
    }
}

fn check_xy(x: &Tensor, y: &Tensor) -> Result<usize> {
    let (Some(&nx), Some(&ny)) = (x.shape().first(), y.shape().first()) else {
        return Err(Error::shape("fit", "x and y must have a batch axis"));
    };
    if nx != ny {
        return Err(Error::shape("fit", format!("x has {nx} samples {} but y has {ny} {}", fmt_shape(x.shape()), fmt_shape(y.shape()))));
    }
    if !x.all_finite() {
        return Err(Error::NotFinite { what: "an input value in x".into() });
    }
    Ok(nx)
}

fn check_batch_size(batch_size: usize) -> Result<()> {
    if batch_size == 0 {
        return Err(Error::argument("batch_size", "must be at least 1, got 0"));
    }
    Ok(())
}

impl Sequential {
    /// Trains the model on `x` (inputs, batch first) and `y` (targets).
    pub fn fit(&mut self, x: &Tensor, y: &Tensor, options: FitOptions) -> Result<History> {
        let FitOptions { epochs, batch_size, shuffle, validation_split, validation_data, initial_epoch, verbose, mut callbacks } = options;
        check_batch_size(batch_size)?;
        if self.compiled.is_none() {
            return Err(Error::State("the model must be compiled before fit(): call compile(optimizer, loss, metrics)".into()));
        }
        if !(0.0..1.0).contains(&validation_split) {
            return Err(Error::argument("validation_split", format!("must be in [0, 1), got {validation_split}")));
        }
        let n = check_xy(x, y)?;
        let n_train = if validation_data.is_some() { n } else { n - (n as f64 * validation_split as f64).floor() as usize };
        if n_train == 0 {
            return Err(Error::argument("fit", "no training samples left (empty data, or validation_split takes them all)"));
        }
        let validation = match validation_data {
            Some((vx, vy)) => {
                check_xy(&vx, &vy)?;
                Some((vx, vy))
            }
            None if n_train < n => {
                let held: Vec<usize> = (n_train..n).collect();
                Some((x.gather_rows(&held)?, y.gather_rows(&held)?))
            }
            None => None,
        };
        self.ensure_built(x)?;
        self.check_targets(y)?;
        if let Some((vx, vy)) = &validation {
            self.ensure_built(vx)?;
            self.check_targets(vy)?;
        }

        let steps = n_train.div_ceil(batch_size);
        if verbose > 0 {
            let bar = if verbose == 1 { ProgressBar::new() } else { ProgressBar::with_terminal(false) };
            callbacks.insert(0, Box::new(bar));
        }
        let info = TrainInfo { initial_epoch, epochs, steps, samples: n_train };
        callbacks.iter_mut().for_each(|c| c.on_train_begin(&info));
        let mut history = History::default();
        let mut order: Vec<usize> = (0..n_train).collect();
        let mut last = Logs::default();
        for epoch in initial_epoch..epochs {
            for c in callbacks.iter_mut() {
                c.on_epoch_begin(epoch, self)?;
            }
            let started = Instant::now();
            if shuffle {
                // Each epoch's order depends on the RNG state alone, so a resumed run matches.
                order.iter_mut().enumerate().for_each(|(i, o)| *o = i);
                self.shuffle_rng.shuffle(&mut order);
            }
            let mut loss_mean = Mean::default();
            self.reset_metrics();
            for (step, batch) in order.chunks(batch_size).enumerate() {
                let (xb, yb) = (x.gather_rows(batch)?, y.gather_rows(batch)?);
                let loss = self.train_step(&xb, &yb)?;
                if !loss.is_finite() {
                    return Err(Error::NotFinite { what: format!("the loss at epoch {}, batch {}", epoch + 1, step + 1) });
                }
                loss_mean.add(loss as f64, batch.len() as f64);
                let logs = self.logs(&loss_mean, "");
                callbacks.iter_mut().for_each(|c| c.on_batch_end(step, &logs));
            }
            let seconds = started.elapsed().as_secs_f64();
            let mut logs = self.logs(&loss_mean, "");
            if let Some((vx, vy)) = &validation {
                let val = self.evaluate(vx, vy, batch_size)?;
                for (name, value) in val.0 {
                    logs.set(&format!("val_{name}"), value);
                }
            }
            history.record(epoch, &logs, seconds);
            self.history.record(epoch, &logs, seconds);
            let mut stop = false;
            for c in callbacks.iter_mut() {
                stop |= c.on_epoch_end(epoch, &logs, self)? == Control::Stop;
            }
            last = logs;
            if stop {
                break;
            }
        }
        for c in callbacks.iter_mut() {
            c.on_train_end(&last, self)?;
        }
        Ok(history)
    }

    /// One optimizer update on a batch; returns the batch loss and updates the
    /// metrics. While other programs keep the cores busy it runs on one worker
    /// (see `strata_core::threads::run_step`).
    pub fn train_step(&mut self, x: &Tensor, y: &Tensor) -> Result<f32> {
        strata_core::threads::run_step(|| self.step(x, y))
    }

    fn step(&mut self, x: &Tensor, y: &Tensor) -> Result<f32> {
        self.ensure_built(x)?;
        let y_pred = self.call(x, true)?;
        let compiled = self.compiled.as_mut().ok_or_else(|| Error::State("the model must be compiled before training".into()))?;
        let loss = profile::scoped("loss", Phase::Forward, || compiled.loss.call(y, &y_pred))?;
        let grads = loss.backward()?;
        let params: Vec<Tensor> = self.layers.iter().flat_map(|l| l.weights()).filter(|w| w.trainable).map(|w| w.tensor).collect();
        profile::scoped("optimizer", Phase::Update, || compiled.optimizer.apply(&params, &grads))?;
        for m in compiled.metrics.iter_mut() {
            m.update(y, &y_pred)?;
        }
        loss.item()
    }

    /// Fails before any training if `y` cannot be the targets of this model's loss.
    fn check_targets(&self, y: &Tensor) -> Result<()> {
        let (Some(c), Some(out)) = (&self.compiled, self.output_shape()) else { return Ok(()) };
        c.loss.check_targets(y, out)
    }

    fn reset_metrics(&mut self) {
        if let Some(c) = self.compiled.as_mut() {
            c.metrics.iter_mut().for_each(|m| m.reset());
        }
    }

    fn logs(&self, loss: &Mean, prefix: &str) -> Logs {
        let mut logs = Logs::default();
        logs.set(&format!("{prefix}loss"), loss.result());
        if let Some(c) = &self.compiled {
            for m in &c.metrics {
                logs.set(&format!("{prefix}{}", m.name()), m.result());
            }
        }
        logs
    }

    /// Loss and metrics on `x`, `y`, in batches of `batch_size`, without training.
    pub fn evaluate(&mut self, x: &Tensor, y: &Tensor, batch_size: usize) -> Result<Logs> {
        check_batch_size(batch_size)?;
        let n = check_xy(x, y)?;
        self.ensure_built(x)?;
        self.check_targets(y)?;
        self.reset_metrics();
        let _no_grad = no_grad();
        let mut loss_mean = Mean::default();
        let indices: Vec<usize> = (0..n).collect();
        for batch in indices.chunks(batch_size) {
            let (xb, yb) = (x.gather_rows(batch)?, y.gather_rows(batch)?);
            let y_pred = self.call(&xb, false)?;
            let compiled = self.compiled.as_mut().ok_or_else(|| Error::State("the model must be compiled before evaluate()".into()))?;
            loss_mean.add(compiled.loss.call(&yb, &y_pred)?.item()? as f64, batch.len() as f64);
            for m in compiled.metrics.iter_mut() {
                m.update(&yb, &y_pred)?;
            }
        }
        let logs = self.logs(&loss_mean, "");
        self.reset_metrics();
        Ok(logs)
    }

    /// The model's outputs for `x`, computed in batches of `batch_size`.
    pub fn predict(&mut self, x: &Tensor, batch_size: usize) -> Result<Tensor> {
        check_batch_size(batch_size)?;
        self.ensure_built(x)?;
        let _no_grad = no_grad();
        let n = x.shape()[0];
        let out_shape = self.output_shape().map(|s| s.to_vec()).unwrap_or_default();
        let mut out = Vec::with_capacity(n * out_shape.iter().product::<usize>());
        let indices: Vec<usize> = (0..n).collect();
        for batch in indices.chunks(batch_size) {
            out.extend_from_slice(&self.call(&x.gather_rows(batch)?, false)?.data());
        }
        let mut shape = vec![n];
        shape.extend(out_shape);
        Tensor::new(out, &shape)
    }
}
