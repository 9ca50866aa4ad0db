//! Loss functions with Keras's names, definitions and defaults. Each returns
//! the mean over the batch of a per-sample loss (Keras's default reduction,
//! `sum_over_batch_size`).

mod hinge;
mod probabilistic;
mod regression;

use serde_json::{json, Value};
use strata_core::{fmt_shape, ops, Error, Result, Tensor};

pub use hinge::{CategoricalHinge, Hinge, SquaredHinge};
pub use probabilistic::{BinaryCrossentropy, CosineSimilarity, KLDivergence, Poisson};
pub use regression::{Huber, LogCosh, MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError};

/// Keras's `epsilon()`: probabilities are clipped to `[EPSILON, 1 - EPSILON]`.
pub const EPSILON: f32 = 1e-7;

/// A training objective.
pub trait Loss: Send {
    /// Keras's identifier, e.g. `"categorical_crossentropy"`.
    fn name(&self) -> &'static str;
    /// The loss of each sample: shape `y_pred.shape()` without its last axis.
    fn per_sample(&self, y_true: &Tensor, y_pred: &Tensor) -> Result<Tensor>;
    /// The mean loss over the batch, a 0-d tensor to call `backward()` on.
    fn call(&self, y_true: &Tensor, y_pred: &Tensor) -> Result<Tensor> {
        Ok(self.per_sample(y_true, y_pred)?.mean())
    }
    /// Checks a whole target array against the model's output shape (no batch
    /// axis) before training starts, so errors name the sample in the dataset.
    fn check_targets(&self, y_true: &Tensor, output_shape: &[usize]) -> Result<()> {
        if y_true.shape().get(1..) != Some(output_shape) {
            let mut expected = vec![y_true.shape().first().copied().unwrap_or(0)];
            expected.extend_from_slice(output_shape);
            return Err(Error::shape(
                self.name(),
                format!("targets have shape {} but the model outputs {}", fmt_shape(y_true.shape()), fmt_shape(&expected)),
            ));
        }
        Ok(())
    }
    /// Keras's config for this loss.
    fn config(&self) -> Value;
}

/// Parses a Keras loss identifier or class name (`"mse"`, `"categorical_crossentropy"`, `"Huber"`, ...).
pub fn from_name(name: &str) -> Result<Box<dyn Loss>> {
    Ok(match name {
        "mse" | "mean_squared_error" | "MeanSquaredError" => Box::new(MeanSquaredError),
        "mae" | "mean_absolute_error" | "MeanAbsoluteError" => Box::new(MeanAbsoluteError),
        "mape" | "mean_absolute_percentage_error" | "MeanAbsolutePercentageError" => Box::new(MeanAbsolutePercentageError),
        "msle" | "mean_squared_logarithmic_error" | "MeanSquaredLogarithmicError" => Box::new(MeanSquaredLogarithmicError),
        "huber" | "huber_loss" | "Huber" => Box::new(Huber::default()),
        "log_cosh" | "logcosh" | "LogCosh" => Box::new(LogCosh),
        "categorical_crossentropy" | "CategoricalCrossentropy" => Box::new(CategoricalCrossentropy::default()),
        "sparse_categorical_crossentropy" | "SparseCategoricalCrossentropy" => Box::new(SparseCategoricalCrossentropy::default()),
        "binary_crossentropy" | "BinaryCrossentropy" => Box::new(BinaryCrossentropy::default()),
        "kl_divergence" | "kld" | "KLDivergence" => Box::new(KLDivergence),
        "poisson" | "Poisson" => Box::new(Poisson),
        "hinge" | "Hinge" => Box::new(Hinge),
        "squared_hinge" | "SquaredHinge" => Box::new(SquaredHinge),
        "categorical_hinge" | "CategoricalHinge" => Box::new(CategoricalHinge),
        "cosine_similarity" | "CosineSimilarity" => Box::new(CosineSimilarity),
        other => {
            return Err(Error::argument(
                "loss",
                format!("unknown loss '{other}' (known: mean_squared_error, mean_absolute_error, mean_absolute_percentage_error, mean_squared_logarithmic_error, huber, log_cosh, categorical_crossentropy, sparse_categorical_crossentropy, binary_crossentropy, kl_divergence, poisson, hinge, squared_hinge, categorical_hinge, cosine_similarity)"),
            ));
        }
    })
}

/// A loss from Keras's `compile_config` entry: an identifier, or
/// `{"class_name": ..., "config": {"from_logits": ...}}`.
pub fn from_config(config: &Value) -> Result<Box<dyn Loss>> {
    let (name, cfg) = match config {
        Value::String(s) => (s.as_str(), &Value::Null),
        Value::Object(o) => (o.get("class_name").and_then(|c| c.as_str()).unwrap_or(""), o.get("config").unwrap_or(&Value::Null)),
        _ => return Err(Error::argument("loss", format!("expected a name or a config, got {config}"))),
    };
    let from_logits = cfg.get("from_logits").and_then(|v| v.as_bool()).unwrap_or(false);
    match (name, from_logits) {
        ("CategoricalCrossentropy" | "categorical_crossentropy", true) => Ok(Box::new(CategoricalCrossentropy::new(true))),
        ("SparseCategoricalCrossentropy" | "sparse_categorical_crossentropy", true) => Ok(Box::new(SparseCategoricalCrossentropy::new(true))),
        ("BinaryCrossentropy" | "binary_crossentropy", true) => Ok(Box::new(BinaryCrossentropy::new(true))),
        ("Huber" | "huber", _) => Ok(Box::new(Huber { delta: cfg.get("delta").and_then(|d| d.as_f64()).map(|d| d as f32).unwrap_or(1.0) })),
        _ => from_name(name),
    }
}

pub(crate) fn same_shape(loss: &str, y_true: &Tensor, y_pred: &Tensor) -> Result<()> {
    if y_true.shape() != y_pred.shape() {
        return Err(Error::shape(loss, format!("y_true {} and y_pred {} must have the same shape", fmt_shape(y_true.shape()), fmt_shape(y_pred.shape()))));
    }
    if y_pred.rank() == 0 {
        return Err(Error::shape(loss, "y_pred must have at least one axis"));
    }
    Ok(())
}

/// `mean((y_true - y_pred)², axis=-1)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct MeanSquaredError;

impl Loss for MeanSquaredError {
    fn name(&self) -> &'static str {
        "mean_squared_error"
    }
    fn per_sample(&self, y_true: &Tensor, y_pred: &Tensor) -> Result<Tensor> {
        same_shape(self.name(), y_true, y_pred)?;
        y_pred.sub(y_true)?.square().mean_axis(-1, false)
    }
    fn config(&self) -> Value {
        json!({ "name": "mean_squared_error", "reduction": "sum_over_batch_size" })
    }
}

/// Cross-entropy between one-hot (or soft) targets and predicted class probabilities.
#[derive(Clone, Copy, Debug, Default)]
pub struct CategoricalCrossentropy {
    /// Whether `y_pred` holds logits rather than probabilities.
    pub from_logits: bool,
}

impl CategoricalCrossentropy {
    pub fn new(from_logits: bool) -> Self {
        CategoricalCrossentropy { from_logits }
    }
}

impl Loss for CategoricalCrossentropy {
    fn name(&self) -> &'static str {
        "categorical_crossentropy"
    }
    fn per_sample(&self, y_true: &Tensor, y_pred: &Tensor) -> Result<Tensor> {
        same_shape(self.name(), y_true, y_pred)?;
        // A softmax output carries its logits: use the exact fused form, as Keras does.
        if let Some(logits) = y_pred.softmax_logits().filter(|_| !self.from_logits) {
            return ops::softmax_cross_entropy(logits, y_true);
        }
        if self.from_logits {
            return ops::softmax_cross_entropy(y_pred, y_true);
        }
        let p = y_pred.div(&y_pred.sum_axis(-1, true)?)?.clip(EPSILON, 1.0 - EPSILON);
        y_true.mul(&p.log())?.sum_axis(-1, false).map(|s| s.neg())
    }
    fn config(&self) -> Value {
        json!({ "name": "categorical_crossentropy", "reduction": "sum_over_batch_size", "from_logits": self.from_logits, "label_smoothing": 0.0, "axis": -1 })
    }
}

/// Cross-entropy between integer class ids and predicted class probabilities.
#[derive(Clone, Copy, Debug, Default)]
pub struct SparseCategoricalCrossentropy {
    /// Whether `y_pred` holds logits rather than probabilities.
    pub from_logits: bool,
}

impl SparseCategoricalCrossentropy {
    pub fn new(from_logits: bool) -> Self {
        SparseCategoricalCrossentropy { from_logits }
    }
}

/// Integer class ids from a `[batch]` or `[batch, 1]` tensor, checked to be
/// whole numbers in `0..classes`.
pub fn class_ids(y_true: &Tensor, batch: usize, classes: usize) -> Result<Vec<usize>> {
    let s = y_true.shape();
    if !(s == [batch] || s == [batch, 1]) {
        return Err(Error::shape("sparse labels", format!("expected shape ({batch},) or ({batch}, 1), got {}", fmt_shape(s))));
    }
    y_true
        .data()
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            if v.fract() != 0.0 || v < 0.0 || v >= classes as f32 {
                Err(Error::argument("labels", format!("label {v} of sample {i} is not a class id in 0..={} ({classes} classes)", classes.saturating_sub(1))))
            } else {
                Ok(v as usize)
            }
        })
        .collect()
}

impl Loss for SparseCategoricalCrossentropy {
    fn name(&self) -> &'static str {
        "sparse_categorical_crossentropy"
    }
    fn per_sample(&self, y_true: &Tensor, y_pred: &Tensor) -> Result<Tensor> {
        if y_pred.rank() != 2 {
            return Err(Error::shape(self.name(), format!("y_pred must be [batch, classes], got {}", fmt_shape(y_pred.shape()))));
        }
        let labels = class_ids(y_true, y_pred.shape()[0], y_pred.shape()[1])?;
        if let Some(logits) = y_pred.softmax_logits().filter(|_| !self.from_logits) {
            return ops::sparse_softmax_cross_entropy(logits, &labels);
        }
        if self.from_logits {
            return ops::sparse_softmax_cross_entropy(y_pred, &labels);
        }
        // Keras: clip the probabilities, take logs, then the logits form.
        ops::sparse_softmax_cross_entropy(&y_pred.clip(EPSILON, 1.0 - EPSILON).log(), &labels)
    }
    fn check_targets(&self, y_true: &Tensor, output_shape: &[usize]) -> Result<()> {
        let &[classes] = output_shape else {
            return Err(Error::shape(self.name(), format!("the model must output (batch, classes), it outputs (None, {:?})", output_shape)));
        };
        class_ids(y_true, y_true.shape().first().copied().unwrap_or(0), classes).map(|_| ())
    }
    fn config(&self) -> Value {
        json!({ "name": "sparse_categorical_crossentropy", "reduction": "sum_over_batch_size", "from_logits": self.from_logits, "ignore_class": null })
    }
}
