//! Hooks into the training loop. The progress bar and the history are
//! callbacks like any a user writes.

use std::collections::BTreeMap;
use std::path::Path;

use strata_core::{Result, Tensor};

use super::functional::Model;
use crate::optimizers::Optimizer;

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
    /// The first epoch to run (0-based; Keras's `initial_epoch`).
    pub initial_epoch: usize,
    /// The number of epochs in all, counting those before `initial_epoch`
    /// (training stops before epoch `epochs`, 0-based).
    pub epochs: usize,
    /// Batches per epoch.
    pub steps: usize,
    /// Training samples per epoch (after any validation split).
    pub samples: usize,
}

/// Whether training goes on after a callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Go on to the next epoch.
    Continue,
    /// End training after this epoch (`on_train_end` still runs).
    Stop,
}

/// The model being trained, as callbacks see it (Keras's `callback.model`):
/// what a callback may read or change, whatever the model is.
pub trait TrainingModel {
    /// The model's name.
    fn name(&self) -> String;
    /// A copy of every weight, in a fixed order.
    fn get_weights(&self) -> Vec<Tensor>;
    /// Sets the weights from values taken with [`TrainingModel::get_weights`].
    fn set_weights(&self, values: &[Tensor]) -> Result<()>;
    /// The optimizer, once compiled (to read or change its learning rate).
    fn optimizer_mut(&mut self) -> Option<&mut (dyn Optimizer + 'static)>;
    /// Saves the model, its weights and its training state (atomically).
    fn save(&self, path: &Path) -> Result<()>;
    /// Predictions for `x` (one tensor per output), in batches of `batch_size`.
    fn predict(&mut self, x: &Tensor, batch_size: usize) -> Result<Vec<Tensor>>;
}

impl TrainingModel for Model {
    fn name(&self) -> String {
        Model::name(self).to_string()
    }
    fn get_weights(&self) -> Vec<Tensor> {
        Model::get_weights(self)
    }
    fn set_weights(&self, values: &[Tensor]) -> Result<()> {
        Model::set_weights(self, values)
    }
    fn optimizer_mut(&mut self) -> Option<&mut (dyn Optimizer + 'static)> {
        Model::optimizer_mut(self)
    }
    fn save(&self, path: &Path) -> Result<()> {
        Model::save(self, path)
    }
    fn predict(&mut self, x: &Tensor, batch_size: usize) -> Result<Vec<Tensor>> {
        self.predict_many(x.clone(), batch_size)
    }
}

/// Hooks called by `fit`. Every method has an empty default. Hooks that get
/// the model may read or change it (save it, restore weights, change the
/// learning rate) through [`TrainingModel`].
pub trait Callback {
    /// Once, before the first epoch, with the run's epochs, batches and samples.
    fn on_train_begin(&mut self, _info: &TrainInfo) {}
    /// Before each epoch (0-based `epoch`); an error ends `fit` with it.
    fn on_epoch_begin(&mut self, _epoch: usize, _model: &mut dyn TrainingModel) -> Result<()> {
        Ok(())
    }
    /// After each batch, with the running means of the epoch so far.
    fn on_batch_end(&mut self, _batch: usize, _logs: &Logs) {}
    /// After each epoch (validation included); return `Control::Stop` to end
    /// training. A callback may add values to `logs` (`logs.set("lr", ..)`):
    /// the callbacks after it, and the History, see them.
    fn on_epoch_end(&mut self, _epoch: usize, _logs: &mut Logs, _model: &mut dyn TrainingModel) -> Result<Control> {
        Ok(Control::Continue)
    }
    /// Once, after the last epoch (also after a stop), with that epoch's logs.
    fn on_train_end(&mut self, _logs: &Logs, _model: &mut dyn TrainingModel) -> Result<()> {
        Ok(())
    }
    /// Whether, in data-parallel training, only rank 0 runs this callback
    /// (it writes files or serves pages); the others drop it. Default false:
    /// callbacks that change training (early stopping, learning-rate
    /// schedules) run on every rank and, seeing the same logs, decide alike.
    fn primary_only(&self) -> bool {
        false
    }
    /// Whether a NaN or infinite loss should end training quietly after its
    /// epoch (see [`TerminateOnNaN`]) instead of failing `fit` with an error.
    fn stops_on_nan(&self) -> bool {
        false
    }
    /// Whether training should end now, after the current batch (Keras's
    /// `model.stop_training = True` in `on_train_batch_end`: a stop button).
    /// Asked after each batch; the epoch then ends as usual (validation,
    /// `on_epoch_end`, the history) and no other epoch starts.
    fn stop_requested(&self) -> bool {
        false
    }
}

/// A callback kept by the caller too (`Arc::new(Mutex::new(EarlyStopping::new(..)))`,
/// one clone given to `fit`), to read its state after training, as Keras
/// users read `early_stopping.stopped_epoch`.
impl<C: Callback> Callback for std::sync::Arc<std::sync::Mutex<C>> {
    fn on_train_begin(&mut self, info: &TrainInfo) {
        self.lock().unwrap_or_else(|e| e.into_inner()).on_train_begin(info)
    }
    fn on_epoch_begin(&mut self, epoch: usize, model: &mut dyn TrainingModel) -> Result<()> {
        self.lock().unwrap_or_else(|e| e.into_inner()).on_epoch_begin(epoch, model)
    }
    fn on_batch_end(&mut self, batch: usize, logs: &Logs) {
        self.lock().unwrap_or_else(|e| e.into_inner()).on_batch_end(batch, logs)
    }
    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, model: &mut dyn TrainingModel) -> Result<Control> {
        self.lock().unwrap_or_else(|e| e.into_inner()).on_epoch_end(epoch, logs, model)
    }
    fn on_train_end(&mut self, logs: &Logs, model: &mut dyn TrainingModel) -> Result<()> {
        self.lock().unwrap_or_else(|e| e.into_inner()).on_train_end(logs, model)
    }
    fn stops_on_nan(&self) -> bool {
        self.lock().unwrap_or_else(|e| e.into_inner()).stops_on_nan()
    }
    fn stop_requested(&self) -> bool {
        self.lock().unwrap_or_else(|e| e.into_inner()).stop_requested()
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
    /// Sets the last recorded epoch's values to `logs` (adding the names it lacks).
    pub(crate) fn amend_last(&mut self, logs: &Logs) {
        let epochs = self.epoch.len();
        for (name, value) in &logs.0 {
            let values = self.history.entry(name.clone()).or_default();
            if values.len() == epochs && epochs > 0 {
                values[epochs - 1] = *value;
            } else {
                values.push(*value);
            }
        }
    }
    /// The values of one metric, epoch by epoch.
    pub fn get(&self, name: &str) -> Option<&[f64]> {
        self.history.get(name).map(|v| v.as_slice())
    }
}
