//! Metrics, accumulated over the batches of an epoch and reset between epochs.

mod auc;
mod classification;

use std::sync::Arc;

use serde_json::Value;
use strata_core::{fmt_shape, Error, Result, Tensor};

use crate::registry::Registry;

pub use auc::Auc;
pub use classification::{MeanError, PrecisionRecall, TopKAccuracy};

/// The weight of sample `row` (1 without sample weights).
pub(crate) fn weight_of(sample_weight: Option<&[f32]>, row: usize) -> f64 {
    sample_weight.and_then(|w| w.get(row)).map_or(1.0, |&w| w as f64)
}

/// A running measure of model quality.
pub trait Metric: Send {
    /// The name shown in logs and history (`"accuracy"`).
    fn name(&self) -> &str;
    /// Adds one batch; `sample_weight` (one weight per sample) weighs each
    /// sample's contribution, as Keras's `update_state(..., sample_weight)`.
    fn update(&mut self, y_true: &Tensor, y_pred: &Tensor, sample_weight: Option<&[f32]>) -> Result<()>;
    /// The value over every batch since the last reset.
    fn result(&self) -> f64;
    /// Starts over (called at each epoch start).
    fn reset(&mut self);
    /// How `compile_config` names this metric: its name, or Keras's class
    /// and config when it has arguments (read back by [`from_config`]).
    fn config(&self) -> Value {
        Value::from(self.name())
    }
}

/// A metric from its `compile_config` entry: a name (built-in or registered),
/// or Keras's `{"class_name": ..., "config": {...}}` of one with arguments.
pub fn from_config(v: &Value) -> Result<Box<dyn Metric>> {
    let Value::Object(o) = v else {
        return from_name(v.as_str().ok_or_else(|| Error::argument("metrics", format!("expected a metric name or config, got {v}")))?);
    };
    let class = o.get("class_name").and_then(|c| c.as_str()).unwrap_or("");
    let cfg = o.get("config").unwrap_or(&Value::Null);
    let count = |key: &str, default: u64| cfg.get(key).and_then(|k| k.as_u64()).unwrap_or(default) as usize;
    Ok(match class {
        "TopKCategoricalAccuracy" | "SparseTopKCategoricalAccuracy" => Box::new(TopKAccuracy::new(count("k", 5))),
        "AUC" => Box::new(Auc::new(count("num_thresholds", 200))),
        other => from_name(cfg.get("name").and_then(|n| n.as_str()).unwrap_or(other))?,
    })
}

/// The user's own metrics, by name.
static CUSTOM: Registry<dyn Fn() -> Box<dyn Metric> + Send + Sync> = Registry::new();

/// Registers a metric of one's own under its `name()`, so that models
/// compiled with it load again (Keras's `custom_objects`): `make` gives a
/// fresh one.
pub fn register_metric(name: &str, make: impl Fn() -> Box<dyn Metric> + Send + Sync + 'static) {
    CUSTOM.register(name, Arc::new(make));
}

/// Parses a Keras metric identifier, or the name of a registered metric.
pub fn from_name(name: &str) -> Result<Box<dyn Metric>> {
    if let Some((_, make)) = CUSTOM.get(name) {
        return Ok(make());
    }
    Ok(match name {
        "accuracy" | "acc" => Box::new(Accuracy::default()),
        "categorical_accuracy" | "sparse_categorical_accuracy" | "binary_accuracy" => Box::new(Accuracy::named(name)),
        "top_k_categorical_accuracy" | "sparse_top_k_categorical_accuracy" => Box::new(TopKAccuracy::new(5)),
        "precision" => Box::new(PrecisionRecall::precision()),
        "recall" => Box::new(PrecisionRecall::recall()),
        "mse" => Box::new(MeanError::squared().short()),
        "mean_squared_error" => Box::new(MeanError::squared()),
        "mae" => Box::new(MeanError::absolute().short()),
        "mean_absolute_error" => Box::new(MeanError::absolute()),
        "auc" | "AUC" => Box::new(Auc::default()),
        other => {
            return Err(Error::argument(
                "metrics",
                format!("unknown metric '{other}' (known: accuracy, top_k_categorical_accuracy, precision, recall, auc, mean_squared_error, mean_absolute_error; your own after strata::metrics::register_metric)"),
            ));
        }
    })
}

pub(crate) fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

/// Fraction of correct predictions. Like Keras's `"accuracy"`, it adapts to
/// the targets: one-hot targets compare argmaxes (categorical accuracy),
/// integer targets compare with the argmax (sparse categorical accuracy), and
/// a single output column is thresholded at 0.5 (binary accuracy).
#[derive(Clone, Debug)]
pub struct Accuracy {
    name: String,
    correct: f64,
    total: f64,
}

impl Default for Accuracy {
    fn default() -> Self {
        Accuracy::named("accuracy")
    }
}

impl Accuracy {
    /// The same metric logged under `name` (`categorical_accuracy`, ...), as Keras logs what was asked for.
    pub fn named(name: &str) -> Self {
        Accuracy { name: name.to_string(), correct: 0.0, total: 0.0 }
    }
}

impl Metric for Accuracy {
    fn name(&self) -> &str {
        &self.name
    }

    fn update(&mut self, y_true: &Tensor, y_pred: &Tensor, sample_weight: Option<&[f32]>) -> Result<()> {
        let (ts, ps) = (y_true.shape(), y_pred.shape());
        let classes = *ps.last().ok_or_else(|| Error::shape("accuracy", "y_pred must have at least one axis"))?;
        let rows = y_pred.numel() / classes.max(1);
        let binary = self.name == "binary_accuracy" || classes == 1;
        // The argmaxes are computed by the tensors' backend; only class
        // positions (or, for binary accuracy, the values) come to the host.
        let positions = |t: &Tensor| -> Result<Vec<i64>> { if classes == 0 { Ok(vec![0; rows]) } else { t.argmax(-1)?.to_i64() } };
        let hit: Box<dyn Fn(usize) -> f64> = if ts == ps && !binary {
            let (t, p) = (positions(y_true)?, positions(y_pred)?);
            Box::new(move |r| f64::from(u8::from(t[r] == p[r])))
        } else if ts == ps {
            // Binary: the mean over the row's outputs thresholded at 0.5.
            let (t, p) = (y_true.to_vec(), y_pred.to_vec());
            Box::new(move |r| (r * classes..(r + 1) * classes).filter(|&i| (p[i] > 0.5) == (t[i] > 0.5)).count() as f64 / classes as f64)
        } else if y_true.numel() == rows {
            let (t, p) = (y_true.to_vec(), positions(y_pred)?);
            Box::new(move |r| f64::from(u8::from(p[r] as f32 == t[r])))
        } else {
            return Err(Error::shape("accuracy", format!("cannot compare y_true {} with y_pred {}", fmt_shape(ts), fmt_shape(ps))));
        };
        for r in 0..rows {
            let w = weight_of(sample_weight, r);
            self.correct += w * hit(r);
            self.total += w;
        }
        Ok(())
    }

    fn result(&self) -> f64 {
        if self.total == 0.0 { 0.0 } else { self.correct / self.total }
    }

    fn reset(&mut self) {
        (self.correct, self.total) = (0.0, 0.0);
    }
}

/// Weighted running mean (tracks the loss over an epoch, weighted by batch size).
#[derive(Clone, Debug, Default)]
pub struct Mean {
    total: f64,
    weight: f64,
}

impl Mean {
    /// Adds `value` with `weight`.
    pub fn add(&mut self, value: f64, weight: f64) {
        self.total += value * weight;
        self.weight += weight;
    }
    /// The weighted mean so far (0 when empty).
    pub fn result(&self) -> f64 {
        if self.weight == 0.0 { 0.0 } else { self.total / self.weight }
    }
    /// Starts over.
    pub fn reset(&mut self) {
        *self = Mean::default();
    }
}
