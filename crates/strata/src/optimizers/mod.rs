//! Optimizers: they update the trainable weights in place from their
//! gradients. State (slots) is kept per weight, keyed by the weight's tensor.

mod adam;
mod sgd;

pub use adam::Adam;
pub use sgd::SGD;

use serde_json::Value;
use strata_core::{Error, Gradients, Result, Tensor};

/// Updates weights from gradients.
pub trait Optimizer: Send {
    /// Keras's identifier (`"adam"`).
    fn name(&self) -> &'static str;
    /// One update of every weight in `params` that has a gradient in `grads`.
    fn apply(&mut self, params: &[Tensor], grads: &Gradients) -> Result<()>;
    /// Current learning rate.
    fn learning_rate(&self) -> f32;
    /// Changes the learning rate (schedules, callbacks).
    fn set_learning_rate(&mut self, lr: f32);
    /// Number of updates applied so far.
    fn iterations(&self) -> u64;
    /// Keras's config for this optimizer.
    fn config(&self) -> Value;
}

/// Parses a Keras optimizer identifier with Keras's defaults.
pub fn from_name(name: &str) -> Result<Box<dyn Optimizer>> {
    match name.to_ascii_lowercase().as_str() {
        "adam" => Ok(Box::new(Adam::default())),
        "sgd" => Ok(Box::new(SGD::default())),
        other => Err(Error::argument("optimizer", format!("unknown optimizer '{other}' (known: adam, sgd)"))),
    }
}

/// Checks a learning rate or a hyperparameter in `[0, 1)`.
pub(crate) fn check_hyper(name: &str, value: f32, max_exclusive: Option<f32>) -> Result<()> {
    let ok = value.is_finite() && value >= 0.0 && max_exclusive.is_none_or(|m| value < m);
    if ok {
        Ok(())
    } else {
        Err(Error::argument(name, format!("received {name}={value}")))
    }
}
