//! The training loop: `fit` over arrays or a dataset, epochs of training steps, callbacks.

use std::collections::HashMap;
use std::time::Instant;

use strata_core::{fmt_shape, Error, Result, Tensor};

use super::callbacks::{Callback, Control, History, Logs, TrainInfo};
use super::functional::Model;
use super::progress::ProgressBar;
use super::train_step::StepLogs;
use crate::data::dataset::{Batch, Dataset};

/// Arguments of [`Model::fit`], with Keras's defaults.
pub struct FitOptions {
    /// Index of the last epoch to train (Keras's `epochs`); default 1.
    pub epochs: usize,
    /// Samples per gradient update; default 32.
    pub batch_size: usize,
    /// Reshuffle the training samples before each epoch; default true.
    pub shuffle: bool,
    /// Fraction of the data, taken from the end before shuffling, held out for validation.
    pub validation_split: f32,
    /// Validation inputs and targets, each as `fit` takes them (one tensor,
    /// a list, or by name: `Some((x.into(), y.into()))`); overrides `validation_split`.
    pub validation_data: Option<(Feed, Feed)>,
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

/// Arrays fed to a model's inputs or compared with its outputs: one tensor,
/// a list in the model's order, or tensors by input or output name (Keras's dict).
pub enum Feed {
    /// One tensor, for a model with one input (or output).
    One(Tensor),
    /// One tensor per input (or output), in the model's order.
    List(Vec<Tensor>),
    /// Tensors by input (or output) name, like Keras's dict.
    Named(Vec<(String, Tensor)>),
}

impl From<&Tensor> for Feed {
    fn from(t: &Tensor) -> Feed {
        Feed::One(t.clone())
    }
}
impl From<Tensor> for Feed {
    fn from(t: Tensor) -> Feed {
        Feed::One(t)
    }
}
impl From<Vec<Tensor>> for Feed {
    fn from(t: Vec<Tensor>) -> Feed {
        Feed::List(t)
    }
}
impl From<&[Tensor]> for Feed {
    fn from(t: &[Tensor]) -> Feed {
        Feed::List(t.to_vec())
    }
}
impl From<Vec<(String, Tensor)>> for Feed {
    fn from(t: Vec<(String, Tensor)>) -> Feed {
        Feed::Named(t)
    }
}
impl From<Vec<(&str, Tensor)>> for Feed {
    fn from(t: Vec<(&str, Tensor)>) -> Feed {
        Feed::Named(t.into_iter().map(|(n, t)| (n.to_string(), t)).collect())
    }
}

impl Feed {
    /// One tensor per name of `names`, in that order; `what` ("inputs", "targets") names them in errors.
    pub fn resolve(self, names: &[String], what: &str) -> Result<Vec<Tensor>> {
        let list = match self {
            Feed::One(t) => vec![t],
            Feed::List(v) => v,
            Feed::Named(mut named) => {
                if let Some((extra, _)) = named.iter().find(|(n, _)| !names.contains(n)) {
                    return Err(Error::argument(what, format!("the model has no {what} named '{extra}' (its {what}: {})", names.join(", "))));
                }
                let mut out = Vec::with_capacity(names.len());
                for name in names {
                    let i = named.iter().position(|(n, _)| n == name).ok_or_else(|| Error::argument(what, format!("no array for '{name}' (the model's {what}: {})", names.join(", "))))?;
                    out.push(named.swap_remove(i).1);
                }
                out
            }
        };
        if list.len() != names.len() {
            return Err(Error::argument(what, format!("the model has {} {what} ({}), got {} arrays", names.len(), names.join(", "), list.len())));
        }
        Ok(list)
    }
}

/// Checks that every array has a batch axis and the same number of samples, and that inputs are finite.
pub(super) fn check_arrays(x: &[Tensor], y: &[Tensor]) -> Result<usize> {
    let n = x.first().and_then(|t| t.shape().first().copied());
    let Some(n) = n.filter(|_| x.iter().chain(y).all(|t| t.rank() > 0)) else {
        return Err(Error::shape("fit", "x and y must have a batch axis"));
    };
    if let Some(t) = x.iter().chain(y).find(|t| t.shape()[0] != n) {
        let shapes: Vec<String> = x.iter().chain(y).map(|t| fmt_shape(t.shape())).collect();
        return Err(Error::shape("fit", format!("x has {n} samples but an array has {} (shapes {})", t.shape()[0], shapes.join(", "))));
    }
    if x.iter().any(|t| !t.all_finite()) {
        return Err(Error::NotFinite { what: "an input value in x".into() });
    }
    Ok(n)
}

pub(super) fn check_batch_size(batch_size: usize) -> Result<()> {
    if batch_size == 0 {
        return Err(Error::argument("batch_size", "must be at least 1, got 0"));
    }
    Ok(())
}

impl Model {
    /// Inputs and targets as lists in the model's order, the model built for them.
    pub(super) fn arrays(&mut self, x: Feed, y: Feed) -> Result<(Vec<Tensor>, Vec<Tensor>)> {
        let x = self.input_arrays(x)?;
        let y = y.resolve(&self.output_names(), "targets")?;
        Ok((x, y))
    }

    /// Inputs as a list in the model's order, the model built for them (an
    /// unbuilt Sequential's one input is Keras's `input_layer`).
    pub(super) fn input_arrays(&mut self, x: Feed) -> Result<Vec<Tensor>> {
        let x = if self.is_built() { x.resolve(&self.input_names(), "inputs")? } else { x.resolve(&["input_layer".to_string()], "inputs")? };
        self.build_for(&x)?;
        self.check_input_shapes(&x)?;
        Ok(x)
    }

    /// Fails on an input array whose samples do not have the shape its input
    /// takes, naming the array's own shape (not a batch's) and the likely mistake.
    fn check_input_shapes(&self, x: &[Tensor]) -> Result<()> {
        for ((t, want), name) in x.iter().zip(self.input_shapes()).zip(self.input_names()) {
            let got = t.shape();
            if got.len() == want.len() + 1 && got[1..] == want[..] {
                continue;
            }
            // A Sequential's input is its first layer, as Keras's messages name it.
            let who = if self.sequential { self.layers[0].name() } else { name };
            let hint = crate::layers::shape_hint(got, &want);
            return Err(Error::layer(who, format!("expects inputs of shape {}, got an array of shape {}{hint}", crate::layers::batch_shape(&want), fmt_shape(got))));
        }
        Ok(())
    }

    /// Trains the model on `x` (inputs, batch first) and `y` (targets):
    /// one tensor each, lists in the model's order, or by name.
    ///
    /// ```
    /// use strata::prelude::*;
    ///
    /// # fn main() -> strata::Result<()> {
    /// // y = x₀ - x₁ on 20 samples.
    /// let x = Tensor::new((0..40).map(|i| (i % 7) as f32 / 7.0).collect(), &[20, 2])?;
    /// let y = Tensor::new(x.to_vec().chunks(2).map(|r| r[0] - r[1]).collect(), &[20, 1])?;
    ///
    /// let mut model = Sequential::with_seed(0);
    /// model.add(Dense::new(1).input_shape([2]))?;
    /// model.compile(SGD::new(0.1)?, "mse", &[])?;
    /// let history = model.fit(&x, &y, FitOptions {
    ///     epochs: 5,
    ///     batch_size: 4,
    ///     validation_split: 0.2, // the last 4 samples, never trained on
    ///     verbose: 0,            // no progress bar
    ///     ..Default::default()
    /// })?;
    /// assert_eq!(history.epoch, [0, 1, 2, 3, 4]);
    /// let loss = &history.history["loss"];
    /// assert!(loss[4] < loss[0]);
    /// assert_eq!(history.history["val_loss"].len(), 5);
    /// # Ok(()) }
    /// ```
    pub fn fit(&mut self, x: impl Into<Feed>, y: impl Into<Feed>, mut options: FitOptions) -> Result<History> {
        strata_core::threads::join_from_main();
        check_batch_size(options.batch_size)?;
        self.require_compiled()?;
        let (x, y) = self.arrays(x.into(), y.into())?;
        check_arrays(&x, &y)?;
        self.check_targets(&y)?;
        if let Some((vx, vy)) = options.validation_data.take() {
            let (vx, vy) = self.arrays(vx, vy)?;
            check_arrays(&vx, &vy)?;
            self.check_targets(&vy)?;
            options.validation_dataset.get_or_insert(Dataset::from_many(vx, vy)?.checked());
        }
        let mut data = Dataset::from_many(x, y)?.batch_size(options.batch_size).shuffle(options.shuffle).checked();
        if let Some(w) = options.sample_weight.take() {
            data = data.with_sample_weight(w.to_vec())?;
        }
        self.fit_dataset(&data, options)
    }

    /// Trains the model on a [`Dataset`], in its batches and with its
    /// shuffling (`options.batch_size` and `shuffle` are the dataset's own).
    /// Batches from disk are read on a background thread while the current one trains.
    pub fn fit_dataset(&mut self, data: &Dataset, options: FitOptions) -> Result<History> {
        strata_core::threads::join_from_main();
        let FitOptions { epochs, validation_split, validation_data, validation_dataset, initial_epoch, verbose, mut callbacks, class_weight, sample_weight, .. } = options;
        strata_core::warn_if_unoptimized();
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
            let (vx, vy) = self.arrays(vx, vy)?;
            validation.get_or_insert(Dataset::from_many(vx, vy)?.checked());
        }
        if train.is_empty() {
            return Err(Error::argument("fit", "no training samples left (empty data, or validation_split takes them all)"));
        }
        if !self.is_built() {
            self.build_chain(&train.input_shape())?;
        }
        let steps = train.len().div_ceil(train.get_batch_size().max(1));
        let parallel = crate::distributed::DataParallel::for_model(self);
        if let Some(p) = &parallel {
            p.start(self, &train, (initial_epoch, epochs))?;
            if p.rank() != 0 {
                // Rank 0 prints and writes; the others train alongside it.
                callbacks.retain(|c| !c.primary_only());
            }
        }
        let verbose = if parallel.as_ref().is_some_and(|p| p.rank() != 0) { 0 } else { verbose };
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
            let mut step_logs = StepLogs::default();
            let (mut nan_stop, mut requested_stop) = (false, false);
            self.reset_metrics();
            for (step, batch) in train.training_batches(order, epoch)?.enumerate() {
                let mut batch = batch?;
                if let Some(cw) = &class_weight {
                    batch.sample_weight = Some(class_weights(batch.y(), cw)?);
                }
                if !train.is_checked() {
                    if batch.inputs.iter().any(|x| !x.all_finite()) {
                        return Err(Error::NotFinite { what: format!("an input value in epoch {}, batch {}", epoch + 1, step + 1) });
                    }
                    self.check_targets(&batch.targets)?;
                }
                match &parallel {
                    // No busy-machine fallback: a step waits for the other ranks, which are not contention.
                    Some(p) => {
                        let (mine, shard) = p.shard(&batch)?;
                        crate::distributed::with_shard(shard, || self.run_train_step(&mine, &mut step_logs))?;
                    }
                    None => strata_core::threads::run_step(|| self.run_train_step(&batch, &mut step_logs))?,
                }
                let loss = step_logs.get("loss").unwrap_or(0.0);
                if !loss.is_finite() && !callbacks.iter().any(|c| c.stops_on_nan()) {
                    return Err(Error::NotFinite { what: format!("the loss at epoch {}, batch {}", epoch + 1, step + 1) });
                }
                let logs = step_logs.logs();
                callbacks.iter_mut().for_each(|c| c.on_batch_end(step, &logs));
                if !loss.is_finite() {
                    eprintln!("Batch {step}: Invalid loss, terminating training");
                    nan_stop = true;
                    break;
                }
                let asked = callbacks.iter().any(|c| c.stop_requested());
                if parallel.as_ref().map_or(Ok(asked), |p| p.any(asked))? {
                    requested_stop = true;
                    break;
                }
            }
            let seconds = started.elapsed().as_secs_f64();
            let mut logs = step_logs.logs();
            if let Some(v) = &validation {
                let val = self.evaluate_dataset(&v.clone().batch_size(train.get_batch_size()))?;
                for (name, value) in val.0 {
                    logs.set(&format!("val_{name}"), value);
                }
            }
            // The model's own record first, so a checkpoint saved by a callback holds this epoch.
            self.history.record(epoch, &logs, seconds);
            let mut stop = nan_stop || requested_stop;
            for c in callbacks.iter_mut() {
                stop |= c.on_epoch_end(epoch, &mut logs, self)? == Control::Stop;
            }
            if let Some(p) = &parallel {
                // A stop asked on rank 0 alone (a page's stop button) stops every rank.
                stop = p.any(stop)?;
            }
            // Values the callbacks added are kept (Keras's History is the last callback).
            history.record(epoch, &logs, seconds);
            self.history.amend_last(&logs);
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

    /// One optimizer update on a batch (the model's training step); returns
    /// the batch loss and updates the metrics. While other programs keep the
    /// cores busy it runs on one worker (see `strata_core::threads::run_step`).
    pub fn train_on_batch(&mut self, x: impl Into<Feed>, y: impl Into<Feed>) -> Result<f32> {
        strata_core::threads::join_from_main();
        let (inputs, targets) = self.arrays(x.into(), y.into())?;
        let batch = Batch { inputs, targets, sample_weight: None };
        let mut logs = StepLogs::default();
        strata_core::threads::run_step(|| self.run_train_step(&batch, &mut logs))?;
        Ok(logs.get("loss").unwrap_or(f64::NAN) as f32)
    }
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
