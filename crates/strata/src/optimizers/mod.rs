//! Optimizers: they update the trainable weights in place from their
//! gradients. State (slots) is kept per weight, keyed by the weight's tensor.

mod common {
    /// The methods every optimizer with `learning_rate`, `iterations` and `slots: Slots` fields shares.
    macro_rules! common_methods {
        () => {
            fn learning_rate(&self) -> f32 {
                self.learning_rate
            }
            fn set_learning_rate(&mut self, lr: f32) {
                self.learning_rate = lr;
            }
            fn iterations(&self) -> u64 {
                self.iterations
            }
            fn slots(&self, weight: &Tensor) -> Vec<(&'static str, Vec<f32>)> {
                self.slots.named(weight)
            }
            fn restore(&mut self, weight: &Tensor, slots: Vec<(String, Vec<f32>)>, iterations: u64) -> Result<()> {
                self.iterations = iterations;
                self.slots.restore(weight, slots)
            }
        };
    }
    pub(crate) use common_methods;

    /// The state methods of a wrapper optimizer (an `inner: Box<dyn Optimizer>` field).
    macro_rules! delegate_state {
        () => {
            fn iterations(&self) -> u64 {
                self.inner.iterations()
            }
            fn slots(&self, weight: &Tensor) -> Vec<(&'static str, Vec<f32>)> {
                self.inner.slots(weight)
            }
            fn restore(&mut self, weight: &Tensor, slots: Vec<(String, Vec<f32>)>, iterations: u64) -> Result<()> {
                self.inner.restore(weight, slots, iterations)
            }
        };
    }
    pub(crate) use delegate_state;

    /// The learning-rate methods of a wrapper that leaves the rate to its inner optimizer.
    macro_rules! delegate_rate {
        () => {
            fn learning_rate(&self) -> f32 {
                self.inner.learning_rate()
            }
            fn set_learning_rate(&mut self, lr: f32) {
                self.inner.set_learning_rate(lr)
            }
        };
    }
    pub(crate) use delegate_rate;
}

mod adam;
mod adamax;
mod clip;
mod decay;
mod rmsprop;
mod schedules;
mod sgd;
mod slots;

pub(crate) use common::{common_methods, delegate_rate, delegate_state};

pub use adam::Adam;
pub use adamax::{Adamax, Nadam};
pub use clip::{with_clipping, Clip, Clipped};
pub use decay::{with_weight_decay, WeightDecayed};
pub use schedules::{register_schedule, with_schedule, Schedule, Scheduled};
pub use rmsprop::{Adadelta, Adagrad, RMSprop};
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
    /// The state kept for `weight` (Adam's `m` and `v`, SGD's `velocity`), for checkpoints.
    fn slots(&self, weight: &Tensor) -> Vec<(&'static str, Vec<f32>)>;
    /// Restores the state of `weight` from a checkpoint and the update count.
    fn restore(&mut self, weight: &Tensor, slots: Vec<(String, Vec<f32>)>, iterations: u64) -> Result<()>;
}

/// Checks that a restored slot has the weight's size.
/// Refuses an update with gradients but no weights: the weights of a model
/// taken before it was built are an empty list, and updating nothing would
/// pass silently.
pub(crate) fn check_params(params: &[Tensor], grads: &Gradients) -> Result<()> {
    if params.is_empty() && !grads.is_empty() {
        return Err(Error::argument("optimizer", format!("no weights to update, but {} gradients: weights taken from a model before it was built are an empty list (build it first, or give the first layer an input_shape)", grads.len())));
    }
    Ok(())
}

pub(crate) fn check_slot(name: &str, slot: &[f32], weight: &Tensor) -> Result<()> {
    if slot.len() != weight.numel() {
        return Err(Error::argument("optimizer state", format!("slot '{name}' has {} values for a weight of {}", slot.len(), weight.numel())));
    }
    Ok(())
}

/// An optimizer from Keras's config (`{"name": "adam", "learning_rate": 0.001, ...}`)
/// or identifier.
pub fn from_config(config: &Value) -> Result<Box<dyn Optimizer>> {
    let cfg = config.get("config").unwrap_or(config);
    let clip = [("clipnorm", Clip::Norm as fn(f32) -> Clip), ("global_clipnorm", Clip::GlobalNorm), ("clipvalue", Clip::Value)]
        .into_iter()
        .find_map(|(key, make)| cfg.get(key).and_then(|v| v.as_f64()).map(|v| make(v as f32)));
    let mut optimizer = unclipped_from_config(config)?;
    let name = optimizer.name();
    if let Some(wd) = cfg.get("weight_decay").and_then(|v| v.as_f64()).filter(|_| name != "adamw") {
        optimizer = with_weight_decay(optimizer, wd as f32)?;
    }
    if let Some(c) = clip {
        optimizer = with_clipping(optimizer, c)?;
    }
    match cfg.get("learning_rate").filter(|v| v.is_object()) {
        Some(schedule) => with_schedule(optimizer, Schedule::from_config(schedule)?),
        None => Ok(optimizer),
    }
}

fn unclipped_from_config(config: &Value) -> Result<Box<dyn Optimizer>> {
    let (name, cfg) = match config {
        Value::String(s) => (s.as_str(), &Value::Null),
        Value::Object(o) => {
            let cfg = o.get("config").unwrap_or(config);
            let name = o.get("class_name").or_else(|| cfg.get("name")).and_then(|n| n.as_str()).unwrap_or("");
            (name, cfg)
        }
        _ => return Err(Error::argument("optimizer", format!("expected a name or a config, got {config}"))),
    };
    let num = |key: &str| cfg.get(key).and_then(|v| v.as_f64()).map(|v| v as f32);
    let base = name.trim_end_matches(|c: char| c == '_' || c.is_ascii_digit()).to_ascii_lowercase();
    match base.as_str() {
        "adam" | "adamw" => {
            let lr = num("learning_rate").unwrap_or(0.001);
            let mut a = if base == "adamw" { Adam::adamw(lr, num("weight_decay").unwrap_or(0.004))? } else { Adam::new(lr)? };
            a = a.betas(num("beta_1").unwrap_or(0.9), num("beta_2").unwrap_or(0.999))?.epsilon(num("epsilon").unwrap_or(1e-7))?;
            Ok(Box::new(a.amsgrad(cfg.get("amsgrad").and_then(|v| v.as_bool()).unwrap_or(false))))
        }
        "sgd" => {
            let s = SGD::new(num("learning_rate").unwrap_or(0.01))?;
            let nesterov = cfg.get("nesterov").and_then(|v| v.as_bool()).unwrap_or(false);
            Ok(Box::new(s.momentum(num("momentum").unwrap_or(0.0), nesterov)?))
        }
        "rmsprop" => {
            let r = RMSprop::new(num("learning_rate").unwrap_or(0.001))?;
            let centered = cfg.get("centered").and_then(|v| v.as_bool()).unwrap_or(false);
            Ok(Box::new(r.options(num("rho").unwrap_or(0.9), num("momentum").unwrap_or(0.0), centered)?))
        }
        "adagrad" | "adadelta" | "adamax" | "nadam" => {
            let lr = num("learning_rate").unwrap_or(0.001);
            Ok(match base.as_str() {
                "adagrad" => Box::new(Adagrad::new(lr)?),
                "adadelta" => Box::new(Adadelta::new(lr)?),
                "adamax" => Box::new(Adamax::new(lr)?),
                _ => Box::new(Nadam::new(lr)?),
            })
        }
        _ => from_name(name),
    }
}

/// Parses a Keras optimizer identifier with Keras's defaults.
pub fn from_name(name: &str) -> Result<Box<dyn Optimizer>> {
    match name.to_ascii_lowercase().as_str() {
        "adam" => Ok(Box::new(Adam::default())),
        "adamw" => Ok(Box::new(Adam::adamw(0.001, 0.004)?)),
        "sgd" => Ok(Box::new(SGD::default())),
        "rmsprop" => Ok(Box::new(RMSprop::default())),
        "adagrad" => Ok(Box::new(Adagrad::default())),
        "adadelta" => Ok(Box::new(Adadelta::default())),
        "adamax" => Ok(Box::new(Adamax::default())),
        "nadam" => Ok(Box::new(Nadam::default())),
        other => Err(Error::argument("optimizer", format!("unknown optimizer '{other}' (known: adam, adamw, sgd, rmsprop, adagrad, adadelta, adamax, nadam)"))),
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
