//! The training loop: `fit`, `evaluate`, `predict` and one training step.

use std::collections::HashMap;
use std::time::Instant;

use strata_core::profile::{self, Phase};
use strata_core::{fmt_shape, Error, Result, Tensor};

use super::callbacks::{Callback, Control, History, Logs, TrainInfo};
use super::progress::ProgressBar;
use super::sequential::Sequential;
use crate::data::dataset::{Batch, Dataset};
use crate::layers::Weight;
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
    /// A validation dataset (for `fit_dataset`, or data read from disk); overrides both.
    pub validation_dataset: Option<Dataset>,
    /// The epoch to start from (resuming); default 0.
    pub initial_epoch: usize,
    /// A weight per training sample scaling its loss and metrics (Keras's `sample_weight`; `fit` only).
    pub sample_weight: Option<Tensor>,
    /// A weight per class id scaling the loss and metrics of its samples (Keras's `class_weight`);
    /// classes not listed weigh 1.
    pub class_weight: Option<HashMap<usize, f32>>,
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
            validation_dataset: None,
            initial_epoch: 0,
            sample_weight: None,
            class_weight: None,
            verbose: 1,
            callbacks: Vec::new(),
        }
    }
}

pub(super) fn check_xy(x: &Tensor, y: &Tensor) -> Result<usize> {
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

pub(super) fn check_batch_size(batch_size: usize) -> Result<()> {
    if batch_size == 0 {
        return Err(Error::argument("batch_size", "must be at least 1, got 0"));
    }
    Ok(())
}

impl Sequential {
    /// Trains the model on `x` (inputs, batch first) and `y` (targets).
    pub fn fit(&mut self, x: &Tensor, y: &Tensor, mut options: FitOptions) -> Result<History> {
        check_batch_size(options.batch_size)?;
        self.require_compiled()?;
        check_xy(x, y)?;
        self.ensure_built(x)?;
        self.check_targets(y)?;
        if let Some((vx, vy)) = options.validation_data.take() {
            check_xy(&vx, &vy)?;
            self.check_targets(&vy)?;
            options.validation_dataset.get_or_insert(Dataset::from_arrays(vx, vy)?.checked());
        }
        let mut data = Dataset::from_arrays(x.clone(), y.clone())?.batch_size(options.batch_size).shuffle(options.shuffle).checked();
        if let Some(w) = options.sample_weight.take() {
            data = data.with_sample_weight(w.to_vec())?;
        }
        self.fit_dataset(&data, options)
    }

    /// Trains the model on a [`Dataset`], in its batches and with its
    /// shuffling (`options.batch_size` and `shuffle` are the dataset's own).
    /// Batches from disk are read on a background thread while the current one trains.
    pub fn fit_dataset(&mut self, data: &Dataset, options: FitOptions) -> Result<History> {
        let FitOptions { epochs, validation_split, validation_data, validation_dataset, initial_epoch, verbose, mut callbacks, class_weight, sample_weight, .. } = options;
        self.require_compiled()?;
        if sample_weight.is_some() {
            return Err(Error::argument("sample_weight", "fit_dataset takes sample weights from the dataset (Dataset::with_sample_weight)"));
        }
        if class_weight.is_some() && data.has_sample_weight() {
            return Err(Error::argument("class_weight", "cannot be used together with sample_weight (as in Keras)"));
        }
        if !(0.0..1.0).contains(&validation_split) {
            return Err(Error::argument("validation_split", format!("must be in [0, 1), got {validation_split}")));
        }
        let (train, mut validation) = if validation_split > 0.0 && validation_dataset.is_none() && validation_data.is_none() {
            let (t, v) = data.clone().split(validation_split)?;
            (t, Some(v))
        } else {
            (data.clone(), validation_dataset)
        };
        if let Some((vx, vy)) = validation_data {
            validation.get_or_insert(Dataset::from_arrays(vx, vy)?);
        }
        if train.is_empty() {
            return Err(Error::argument("fit", "no training samples left (empty data, or validation_split takes them all)"));
        }
        if !self.is_built() {
            self.build(&train.input_shape())?;
        }
        let steps = train.len().div_ceil(train.get_batch_size().max(1));
        if verbose > 0 {
            let bar = if verbose == 1 { ProgressBar::new() } else { ProgressBar::with_terminal(false) };
            callbacks.insert(0, Box::new(bar));
        }
        let info = TrainInfo { initial_epoch, epochs, steps, samples: train.len() };
        callbacks.iter_mut().for_each(|c| c.on_train_begin(&info));
        let mut history = History::default();
        let mut last = Logs::default();
        for epoch in initial_epoch..epochs {
            for c in callbacks.iter_mut() {
                c.on_epoch_begin(epoch, self)?;
            }
            let started = Instant::now();
            // Each epoch's order depends on the RNG state alone, so a resumed run matches.
            let order = train.epoch_order(&mut self.shuffle_rng);
            let mut loss_mean = Mean::default();
            let mut nan_stop = false;
            self.reset_metrics();
            for (step, batch) in train.batches(order)?.enumerate() {
                let Batch { x: xb, y: yb, sample_weight } = batch?;
                let weights = match &class_weight {
                    Some(cw) => Some(class_weights(&yb, cw)?),
                    None => sample_weight,
                };
                if !train.is_checked() {
                    if !xb.all_finite() {
                        return Err(Error::NotFinite { what: format!("an input value in epoch {}, batch {}", epoch + 1, step + 1) });
                    }
                    self.check_targets(&yb)?;
                }
                let loss = strata_core::threads::run_step(|| self.step(&xb, &yb, weights.as_ref()))?;
                if !loss.is_finite() && !callbacks.iter().any(|c| c.stops_on_nan()) {
                    return Err(Error::NotFinite { what: format!("the loss at epoch {}, batch {}", epoch + 1, step + 1) });
                }
                loss_mean.add(loss as f64, xb.shape()[0] as f64);
                let logs = self.logs(&loss_mean, "");
                callbacks.iter_mut().for_each(|c| c.on_batch_end(step, &logs));
                if !loss.is_finite() {
                    eprintln!("Batch {step}: Invalid loss, terminating training");
                    nan_stop = true;
                    break;
                }
            }
            let seconds = started.elapsed().as_secs_f64();
            let mut logs = self.logs(&loss_mean, "");
            if let Some(v) = &validation {
                let val = self.evaluate_dataset(&v.clone().batch_size(train.get_batch_size()))?;
                for (name, value) in val.0 {
                    logs.set(&format!("val_{name}"), value);
                }
            }
            history.record(epoch, &logs, seconds);
            self.history.record(epoch, &logs, seconds);
            let mut stop = nan_stop;
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

    fn require_compiled(&self) -> Result<()> {
        match self.compiled {
            Some(_) => Ok(()),
            None => Err(Error::State("the model must be compiled before fit(): call compile(optimizer, loss, metrics)".into())),
        }
    }

    /// One optimizer update on a batch; returns the batch loss and updates the
    /// metrics. While other programs keep the cores busy it runs on one worker
    /// (see `strata_core::threads::run_step`).
    pub fn train_step(&mut self, x: &Tensor, y: &Tensor) -> Result<f32> {
        strata_core::threads::run_step(|| self.step(x, y, None))
    }

    fn step(&mut self, x: &Tensor, y: &Tensor, sample_weight: Option<&Tensor>) -> Result<f32> {
        self.ensure_built(x)?;
        let y_pred = self.call(x, true)?;
        let compiled = self.compiled.as_mut().ok_or_else(|| Error::State("the model must be compiled before training".into()))?;
        let weights: Vec<Weight> = self.layers.iter().flat_map(|l| l.weights()).collect();
        let mut loss = profile::scoped("loss", Phase::Forward, || compiled.loss.call_weighted(y, &y_pred, sample_weight))?;
        if let Some(penalty) = regularization_penalty(&weights)? {
            loss = loss.add(&penalty)?;
        }
        let grads = loss.backward()?;
        let params: Vec<Tensor> = weights.iter().filter(|w| w.trainable).map(|w| w.tensor.clone()).collect();
        profile::scoped("optimizer", Phase::Update, || compiled.optimizer.apply(&params, &grads))?;
        apply_constraints(&weights)?;
        let weights = sample_weight.map(|w| w.to_vec());
        for m in compiled.metrics.iter_mut() {
            m.update(y, &y_pred, weights.as_deref())?;
        }
        loss.item()
    }
}

/// The sum of the weights' regularizer penalties (Keras adds them to the
/// loss it trains on and reports), or `None` when no weight has one.
pub(super) fn regularization_penalty(weights: &[Weight]) -> Result<Option<Tensor>> {
    let mut total: Option<Tensor> = None;
    for w in weights {
        if let Some(r) = w.regularizer {
            let p = r.penalty(&w.tensor)?;
            total = Some(match total {
                Some(t) => t.add(&p)?,
                None => p,
            });
        }
    }
    Ok(total)
}

/// Projects every constrained weight after an optimizer update, as Keras does.
fn apply_constraints(weights: &[Weight]) -> Result<()> {
    for w in weights {
        if let Some(c) = &w.constraint {
            c.apply(&mut w.tensor.data_mut(), w.tensor.shape())?;
        }
    }
    Ok(())
}

/// Per-sample weights from class weights: the class of a sample is its
/// label id, the argmax of a one-hot row, or a rounded single output.
pub(super) fn class_weights(y: &Tensor, class_weight: &HashMap<usize, f32>) -> Result<Tensor> {
    let rows = y.shape().first().copied().unwrap_or(0);
    let per_row = y.numel().checked_div(rows).unwrap_or(0);
    let data = y.data();
    let weights = (0..rows)
        .map(|r| {
            let row = &data[r * per_row..(r + 1) * per_row];
            let class = if per_row > 1 { crate::metrics::argmax(row) } else { row[0].round().max(0.0) as usize };
            class_weight.get(&class).copied().unwrap_or(1.0)
        })
        .collect();
    Tensor::new(weights, &[rows])
}
