//! The default callback: a Keras-style progress bar per epoch on a terminal,
//! or one plain line per epoch when the output is a file or a pipe.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use strata_core::Result;

use super::callbacks::{Callback, Control, Logs, TrainInfo, TrainingModel};

/// Shows training progress on standard error.
pub struct ProgressBar {
    bar: Option<indicatif::ProgressBar>,
    interactive: bool,
    info: Option<TrainInfo>,
    started: Instant,
}

impl ProgressBar {
    /// A bar when standard error is a terminal, plain lines otherwise.
    pub fn new() -> Self {
        ProgressBar::with_terminal(std::io::stderr().is_terminal())
    }
    /// Forces the bar (`true`) or plain lines (`false`).
    pub fn with_terminal(interactive: bool) -> Self {
        ProgressBar { bar: None, interactive, info: None, started: Instant::now() }
    }
    fn samples_per_second(&self, batches: usize) -> f64 {
        let Some(info) = &self.info else { return 0.0 };
        let done = (batches * info.samples).div_ceil(info.steps.max(1)).min(info.samples);
        done as f64 / self.started.elapsed().as_secs_f64().max(1e-9)
    }
}

impl Default for ProgressBar {
    fn default() -> Self {
        ProgressBar::new()
    }
}

impl Callback for ProgressBar {
    fn on_train_begin(&mut self, info: &TrainInfo) {
        self.info = Some(info.clone());
    }

    fn on_epoch_begin(&mut self, epoch: usize, _model: &mut dyn TrainingModel) -> Result<()> {
        self.started = Instant::now();
        let Some(info) = &self.info else { return Ok(()) };
        if self.interactive {
            let bar = indicatif::ProgressBar::new(info.steps as u64);
            let style = indicatif::ProgressStyle::with_template(
                "{prefix} {pos:>5}/{len} [{bar:30.cyan/blue}] {elapsed}<{eta} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(format!("Epoch {}/{}", epoch + 1, info.epochs));
            self.bar = Some(bar);
        }
        Ok(())
    }

    fn on_batch_end(&mut self, batch: usize, logs: &Logs) {
        if let Some(bar) = &self.bar {
            bar.set_position(batch as u64 + 1);
            if batch.is_multiple_of(8) {
                bar.set_message(format!("{} - {:.0} samples/s", logs.describe(), self.samples_per_second(batch + 1)));
            }
        }
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, _model: &mut dyn TrainingModel) -> Result<Control> {
        let Some(info) = &self.info else { return Ok(Control::Continue) };
        let secs = self.started.elapsed().as_secs_f64();
        let rate = info.samples as f64 / secs.max(1e-9);
        let line = format!("{}/{} - {:.1}s - {:.0} samples/s - {}", info.steps, info.steps, secs, rate, logs.describe());
        match self.bar.take() {
            Some(bar) => bar.finish_with_message(format!("{} - {:.0} samples/s", logs.describe(), rate)),
            None => {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "Epoch {}/{}: {line}", epoch + 1, info.epochs);
            }
        }
        Ok(Control::Continue)
    }
}
