//! Keras's everyday callbacks: EarlyStopping, ReduceLROnPlateau,
//! LearningRateScheduler and CSVLogger, with Keras's arguments and defaults.

use std::io::Write;
use std::path::PathBuf;

use strata_core::{Error, Result, Tensor};

use super::callbacks::{Callback, Control, Logs, TrainInfo, TrainingModel};

/// Whether a lower (`Min`) or higher (`Max`) monitored value is better;
/// `Auto` picks `Max` for accuracies and `Min` otherwise, as Keras does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `Max` when the monitored name contains `acc` (or starts with `fmeasure`), else `Min` (Keras's default).
    Auto,
    /// Lower is better (losses, errors).
    Min,
    /// Higher is better (accuracies, AUC).
    Max,
}

impl Mode {
    fn higher_is_better(self, monitor: &str) -> bool {
        match self {
            Mode::Max => true,
            Mode::Min => false,
            Mode::Auto => monitor.contains("acc") || monitor.starts_with("fmeasure"),
        }
    }
}

/// The monitored value. When the logs lack it, Keras warns and trains on:
/// so does Strata, once per callback (`warned`), naming what the logs have.
fn monitored(monitor: &str, logs: &Logs, who: &str, warned: &mut bool) -> Option<f64> {
    let value = logs.get(monitor);
    if value.is_none() && !std::mem::replace(warned, true) {
        let available: Vec<&str> = logs.0.iter().map(|(n, _)| n.as_str()).collect();
        eprintln!("warning: {who} is conditioned on '{monitor}', which is not in the logs (available: {}); it does nothing", available.join(", "));
    }
    value
}

/// Stops training when a monitored value has stopped improving.
pub struct EarlyStopping {
    monitor: String,
    min_delta: f64,
    patience: usize,
    mode: Mode,
    restore_best_weights: bool,
    start_from_epoch: usize,
    best: Option<f64>,
    wait: usize,
    best_weights: Option<Vec<Tensor>>,
    best_epoch: usize,
    verbose: u8,
    warned: bool,
    /// The epoch training stopped at (0-based), if it was stopped.
    pub stopped_epoch: Option<usize>,
}

impl EarlyStopping {
    /// Keras's defaults: monitor `val_loss`, min_delta 0, patience 0, mode auto.
    pub fn new(monitor: &str) -> Self {
        EarlyStopping {
            monitor: monitor.to_string(),
            min_delta: 0.0,
            patience: 0,
            mode: Mode::Auto,
            restore_best_weights: false,
            start_from_epoch: 0,
            best: None,
            wait: 0,
            best_weights: None,
            best_epoch: 0,
            verbose: 0,
            warned: false,
            stopped_epoch: None,
        }
    }
    /// 1 prints Keras's messages when training stops (`Epoch 10: early
    /// stopping`) and when the best weights are restored; 0 (Keras's default) is silent.
    pub fn verbose(mut self, verbose: u8) -> Self {
        self.verbose = verbose;
        self
    }
    /// The epoch training stopped at (0-based, as Keras's `stopped_epoch`), if it was stopped.
    pub fn stopped_epoch(&self) -> Option<usize> {
        self.stopped_epoch
    }
    /// Epochs without improvement before stopping.
    pub fn patience(mut self, patience: usize) -> Self {
        self.patience = patience;
        self
    }
    /// The smallest change that counts as an improvement.
    pub fn min_delta(mut self, min_delta: f64) -> Self {
        self.min_delta = min_delta.abs();
        self
    }
    /// Whether lower or higher is better (default [`Mode::Auto`]).
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }
    /// At the end, put back the weights of the best epoch.
    pub fn restore_best_weights(mut self, on: bool) -> Self {
        self.restore_best_weights = on;
        self
    }
    /// Epochs to train before watching for improvement.
    pub fn start_from_epoch(mut self, epoch: usize) -> Self {
        self.start_from_epoch = epoch;
        self
    }
    fn improved(&self, value: f64) -> bool {
        match self.best {
            None => true,
            Some(best) if self.mode.higher_is_better(&self.monitor) => value - self.min_delta > best,
            Some(best) => value + self.min_delta < best,
        }
    }
}

impl Callback for EarlyStopping {
    /// Starts over, as Keras does: a callback reused for a second `fit` does not inherit the first's state.
    fn on_train_begin(&mut self, _info: &TrainInfo) {
        (self.best, self.wait, self.best_weights, self.best_epoch, self.stopped_epoch) = (None, 0, None, 0, None);
    }
    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, model: &mut dyn TrainingModel) -> Result<Control> {
        let Some(value) = monitored(&self.monitor, logs, "EarlyStopping", &mut self.warned) else {
            return Ok(Control::Continue);
        };
        if epoch < self.start_from_epoch {
            return Ok(Control::Continue);
        }
        if self.restore_best_weights && self.best_weights.is_none() {
            self.best_weights = Some(model.get_weights());
        }
        self.wait += 1;
        if self.improved(value) {
            self.best = Some(value);
            self.best_epoch = epoch;
            if self.restore_best_weights {
                self.best_weights = Some(model.get_weights());
            }
            self.wait = 0;
            return Ok(Control::Continue);
        }
        if self.wait >= self.patience && epoch > 0 {
            self.stopped_epoch = Some(epoch);
            if self.verbose > 0 {
                println!("Epoch {}: early stopping", epoch + 1);
            }
            return Ok(Control::Stop);
        }
        Ok(Control::Continue)
    }

    fn on_train_end(&mut self, _logs: &Logs, model: &mut dyn TrainingModel) -> Result<()> {
        if let (true, Some(best)) = (self.restore_best_weights, &self.best_weights) {
            if self.verbose > 0 {
                println!("Restoring model weights from the end of the best epoch: {}.", self.best_epoch + 1);
            }
            model.set_weights(best)?;
        }
        Ok(())
    }
}

/// Divides the learning rate by `1 / factor` when a monitored value has stopped improving.
pub struct ReduceLROnPlateau {
    monitor: String,
    factor: f32,
    patience: usize,
    mode: Mode,
    min_delta: f64,
    cooldown: usize,
    min_lr: f32,
    best: Option<f64>,
    wait: usize,
    cooldown_counter: usize,
    warned: bool,
}

impl ReduceLROnPlateau {
    /// Keras's defaults: factor 0.1, patience 10, min_delta 1e-4, cooldown 0, min_lr 0.
    pub fn new(monitor: &str) -> Self {
        ReduceLROnPlateau { monitor: monitor.to_string(), factor: 0.1, patience: 10, mode: Mode::Auto, min_delta: 1e-4, cooldown: 0, min_lr: 0.0, best: None, wait: 0, cooldown_counter: 0, warned: false }
    }
    /// The factor in `(0, 1)` the learning rate is multiplied by.
    pub fn factor(mut self, factor: f32) -> Result<Self> {
        if !(factor > 0.0 && factor < 1.0) {
            return Err(Error::argument("factor", format!("ReduceLROnPlateau needs a factor in (0, 1), received factor={factor}")));
        }
        self.factor = factor;
        Ok(self)
    }
    /// Epochs without improvement before the rate is reduced (default 10).
    pub fn patience(mut self, patience: usize) -> Self {
        self.patience = patience;
        self
    }
    /// Epochs to wait after a reduction before counting again (default 0).
    pub fn cooldown(mut self, cooldown: usize) -> Self {
        self.cooldown = cooldown;
        self
    }
    /// The rate is never reduced below this (default 0).
    pub fn min_lr(mut self, min_lr: f32) -> Self {
        self.min_lr = min_lr;
        self
    }
    /// The smallest change that counts as an improvement (default 1e-4).
    pub fn min_delta(mut self, min_delta: f64) -> Self {
        self.min_delta = min_delta;
        self
    }
    /// Whether lower or higher is better (default [`Mode::Auto`]).
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }
}

impl Callback for ReduceLROnPlateau {
    /// Starts over, as Keras does.
    fn on_train_begin(&mut self, _info: &TrainInfo) {
        (self.best, self.wait, self.cooldown_counter) = (None, 0, 0);
    }
    fn on_epoch_end(&mut self, _epoch: usize, logs: &mut Logs, model: &mut dyn TrainingModel) -> Result<Control> {
        let Some(value) = monitored(&self.monitor, logs, "ReduceLROnPlateau", &mut self.warned) else {
            return Ok(Control::Continue);
        };
        if self.cooldown_counter > 0 {
            self.cooldown_counter -= 1;
            self.wait = 0;
        }
        let better = match self.best {
            None => true,
            Some(best) if self.mode.higher_is_better(&self.monitor) => value > best + self.min_delta,
            Some(best) => value < best - self.min_delta,
        };
        if better {
            self.best = Some(value);
            self.wait = 0;
        } else if self.cooldown_counter == 0 {
            self.wait += 1;
            if self.wait >= self.patience {
                if let Some(opt) = model.optimizer_mut() {
                    let old = opt.learning_rate();
                    if old > self.min_lr {
                        opt.set_learning_rate((old * self.factor).max(self.min_lr));
                        self.cooldown_counter = self.cooldown;
                        self.wait = 0;
                    }
                }
            }
        }
        Ok(Control::Continue)
    }
}

/// Sets the learning rate at the start of every epoch from `schedule(epoch, lr)`.
pub struct LearningRateScheduler {
    schedule: Box<dyn FnMut(usize, f32) -> f32>,
}

impl LearningRateScheduler {
    /// `schedule` gets the epoch (0-based) and the current rate and returns the
    /// new rate; a negative or non-finite rate stops training with an error.
    pub fn new(schedule: impl FnMut(usize, f32) -> f32 + 'static) -> Self {
        LearningRateScheduler { schedule: Box::new(schedule) }
    }
}

impl Callback for LearningRateScheduler {
    fn on_epoch_begin(&mut self, epoch: usize, model: &mut dyn TrainingModel) -> Result<()> {
        if let Some(opt) = model.optimizer_mut() {
            let lr = (self.schedule)(epoch, opt.learning_rate());
            if !lr.is_finite() || lr < 0.0 {
                return Err(Error::argument("LearningRateScheduler", format!("the schedule returned learning rate {lr} for epoch {}", epoch + 1)));
            }
            opt.set_learning_rate(lr);
        }
        Ok(())
    }
}

/// Appends each epoch's logs to a CSV file (`epoch,loss,accuracy,...`).
pub struct CSVLogger {
    path: PathBuf,
    append: bool,
    columns: Option<Vec<String>>,
}

impl CSVLogger {
    /// Writes a new file (Keras's `append=False`).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        CSVLogger { path: path.into(), append: false, columns: None }
    }
    /// Adds to an existing file instead of starting a new one (a resumed run).
    pub fn append(mut self, append: bool) -> Self {
        self.append = append;
        self
    }
}

impl Callback for CSVLogger {
    fn primary_only(&self) -> bool {
        true
    }
    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, _model: &mut dyn TrainingModel) -> Result<Control> {
        let first = self.columns.is_none();
        let columns = self.columns.get_or_insert_with(|| logs.0.iter().map(|(n, _)| n.clone()).collect());
        let append = self.append || !first;
        let fresh = !self.path.exists() || !append;
        let mut f = std::fs::OpenOptions::new().create(true).write(true).append(append).truncate(!append).open(&self.path).map_err(|e| Error::io(&self.path, e))?;
        let mut text = String::new();
        if fresh {
            text += &format!("epoch,{}\n", columns.join(","));
        }
        let values: Vec<String> = columns.iter().map(|c| logs.get(c).map(|v| v.to_string()).unwrap_or_default()).collect();
        text += &format!("{epoch},{}\n", values.join(","));
        f.write_all(text.as_bytes()).and_then(|_| f.flush()).map_err(|e| Error::io(&self.path, e))?;
        Ok(Control::Continue)
    }
}
