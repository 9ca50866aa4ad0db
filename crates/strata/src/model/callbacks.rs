//! Hooks into the training loop. The progress bar and the history are
//! callbacks like any a user writes.

use std::collections::BTreeMap;

use strata_core::Result;

use super::functional::Model;

/// Named values at the end of a batch or epoch (`loss`, `accuracy`, `val_loss`, ...).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Logs(pub Vec<(String, f64)>);

impl Logs {
    /// The value logged under `name`.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }
    /// Adds or replaces `name`.
    pub fn set(&mut self, name: &str, value: f64) {
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some(entry) => entry.1 = value,
            None => self.0.push((name.to_string(), value)),
        }
    }
    /// `name: value` pairs joined Keras-style: `loss: 0.1234 - accuracy: 0.9650`.
    pub fn describe(&self) -> String {
        self.0.iter().map(|(n, v)| format!("{n}: {v:.4}")).collect::<Vec<_>>().join(" - ")
    }
}

/// What a training run looks like, given to callbacks at its start.
#[derive(Clone, Debug)]
pub struct TrainInfo {
    /// The first epoch to run (0-based) and the number of epochs in all.
    pub initial_epoch: usize,
    pub epochs: usize,
    /// Batches per epoch and training samples per epoch.
    pub steps: usize,
    pub samples: usize,
}

/// Whether training goes on after a callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    Continue,
    Stop,
}

/// Hooks called by `fit`. Every method has an empty default. Hooks that get
/// the model may read or change it (save it, restore weights, change the
/// learning rate).
pub trait Callback {
    fn on_train_begin(&mut self, _info: &TrainInfo) {}
    fn on_epoch_begin(&mut self, _epoch: usize, _model: &mut Model) -> Result<()> {
        Ok(())
    }
    /// After each batch, with the running means of the epoch so far.
    fn on_batch_end(&mut self, _batch: usize, _logs: &Logs) {}
    /// After each epoch (validation included); return `Control::Stop` to end training.
    fn on_epoch_end(&mut self, _epoch: usize, _logs: &Logs, _model: &mut Model) -> Result<Control> {
        Ok(Control::Continue)
    }
    fn on_train_end(&mut self, _logs: &Logs, _model: &mut Model) -> Result<()> {
        Ok(())
    }
    /// Whether a NaN or infinite loss should end training quietly after its
    /// epoch (see [`TerminateOnNaN`]) instead of failing `fit` with an error.
    fn stops_on_nan(&self) -> bool {
        false
    }
}

/// Keras's `TerminateOnNaN`: when a batch's loss is NaN or infinite, training
/// stops after that batch's epoch and `fit` returns the history so far.
/// Without it, Strata's `fit` fails with an error naming the epoch and batch.
#[derive(Clone, Copy, Debug, Default)]
pub struct TerminateOnNaN;

impl Callback for TerminateOnNaN {
    fn stops_on_nan(&self) -> bool {
        true
    }
}

/// What `fit` returns: every epoch's logs, like Keras's `History`.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// The epochs that ran (0-based).
    pub epoch: Vec<usize>,
    /// Per metric name, one value per epoch (`history["loss"]`).
    pub history: BTreeMap<String, Vec<f64>>,
    /// Wall-clock seconds of each epoch's training (validation excluded).
    pub epoch_seconds: Vec<f64>,
}

impl History {
    pub(crate) fn record(&mut self, epoch: usize, logs: &Logs, seconds: f64) {
        self.epoch.push(epoch);
        for (name, value) in &logs.0 {
            self.history.entry(name.clone()).or_default().push(*value);
        }
        self.epoch_seconds.push(seconds);
    }
    /// The values of one metric, epoch by epoch.
    pub fn get(&self, name: &str) -> Option<&[f64]> {
        self.history.get(name).map(|v| v.as_slice())
    }
}
