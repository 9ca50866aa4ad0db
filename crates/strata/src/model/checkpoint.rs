//! `ModelCheckpoint`: saves the model (a full checkpoint) after each epoch,
//! or only when a monitored value improves, as Keras's callback does.

use std::path::PathBuf;

use strata_core::Result;

use super::callbacks::{Callback, Control, Logs, TrainingModel};

/// Saves the model during `fit`. The file is written atomically, so a run
/// killed at any moment can resume from the last complete checkpoint.
pub struct ModelCheckpoint {
    /// Where to save; `{epoch}` is replaced by the 1-based epoch number.
    path: String,
    monitor: String,
    save_best_only: bool,
    best: Option<f64>,
}

impl ModelCheckpoint {
    /// Saves after every epoch to `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        ModelCheckpoint { path: path.into().to_string_lossy().into_owned(), monitor: "val_loss".into(), save_best_only: false, best: None }
    }
    /// Saves only when `monitor` (e.g. `val_loss`, `val_accuracy`) improves:
    /// lower is better, except for accuracies, as Keras's `mode="auto"`.
    pub fn save_best_only(mut self, monitor: &str) -> Self {
        self.monitor = monitor.to_string();
        self.save_best_only = true;
        self
    }
    fn higher_is_better(&self) -> bool {
        self.monitor.contains("acc")
    }
}

impl Callback for ModelCheckpoint {
    fn primary_only(&self) -> bool {
        true
    }
    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, model: &mut dyn TrainingModel) -> Result<Control> {
        if self.save_best_only {
            let Some(value) = logs.get(&self.monitor) else {
                eprintln!("ModelCheckpoint: '{}' is not in the logs ({}); nothing saved", self.monitor, logs.describe());
                return Ok(Control::Continue);
            };
            let improved = match self.best {
                None => true,
                Some(best) if self.higher_is_better() => value > best,
                Some(best) => value < best,
            };
            if !improved {
                return Ok(Control::Continue);
            }
            self.best = Some(value);
        }
        if self.path.ends_with(".keras") && epoch == 0 {
            eprintln!("warning: ModelCheckpoint to '{}': a .keras file keeps the weights but no optimizer state or progress, so a run cannot resume from it (use .safetensors)", self.path);
        }
        model.save(self.path.replace("{epoch}", &(epoch + 1).to_string()).as_ref())?;
        Ok(Control::Continue)
    }
}
