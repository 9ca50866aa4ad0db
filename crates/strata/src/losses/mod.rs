//! Loss functions with Keras's names, definitions and defaults. Each returns
//! the mean over the batch of a per-sample loss (Keras's default reduction,
//! `sum_over_batch_size`).

mod hinge;
mod probabilistic;
mod regression;

use std::sync::Arc;

use serde_json::{json, Value};
use strata_core::{fmt_shape, ops, DType, Error, Result, Tensor};

use crate::registry::Registry;

pub use hinge::{CategoricalHinge, Hinge, SquaredHinge};
pub use probabilistic::{BinaryCrossentropy, BinaryFocalCrossentropy, CosineSimilarity, KLDivergence, Poisson};
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
    /// [`Loss::call`] with each sample's loss scaled by its weight, then
    /// divided by the number of losses (Keras's `sum_over_batch_size`).
    fn call_weighted(&self, y_true: &Tensor, y_pred: &Tensor, sample_weight: Option<&Tensor>) -> Result<Tensor> {
        match sample_weight {
            None => self.call(y_true, y_pred),
            Some(w) => Ok(weighted(&self.per_sample(y_true, y_pred)?, w)?.mean()),
        }
    }
    /// [`Loss::call_weighted`] over the positions a mask keeps, as Keras
    /// weighs the loss of a model output that carries a mask: `mask` has the
    /// shape of the per-sample losses (or of their leading axes), and the
    /// mean is over the kept positions only.
    fn call_masked(&self, y_true: &Tensor, y_pred: &Tensor, sample_weight: Option<&Tensor>, mask: &Tensor) -> Result<Tensor> {
        masked(&self.per_sample(y_true, y_pred)?, sample_weight, mask, true)
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
    /// Keras's config for this loss (by default, its name and Keras's default reduction).
    fn config(&self) -> Value {
        json!({ "name": self.name(), "reduction": "sum_over_batch_size" })
    }
    /// How `compile_config` names it: the identifier, or Keras's full form when it has options.
    fn serialize(&self) -> Value {
        Value::from(self.name())
    }
}

/// The user's own losses, by the name their `serialize()` gives.
static CUSTOM: Registry<ReadLoss> = Registry::new();

/// Reads a loss of one's own from its serialized value.
type ReadLoss = dyn Fn(&Value) -> Result<Box<dyn Loss>> + Send + Sync;

/// Registers a loss of one's own under `name` (what its `serialize()` writes:
/// its `name()` by default), so that models compiled with it load again
/// (Keras's `custom_objects`). `from_config` gets the loss's serialized
/// value (the name, or an object with its `config`).
pub fn register_loss(name: &str, from_config: impl Fn(&Value) -> Result<Box<dyn Loss>> + Send + Sync + 'static) {
    CUSTOM.register(name, Arc::new(from_config));
}

/// Parses a Keras loss identifier or class name (`"mse"`, `"categorical_crossentropy"`, `"Huber"`, ...),
/// or the name of a registered loss.
pub fn from_name(name: &str) -> Result<Box<dyn Loss>> {
    if let Some((_, read)) = CUSTOM.get(name) {
        return read(&Value::from(name));
    }
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
        "binary_focal_crossentropy" | "BinaryFocalCrossentropy" => Box::new(BinaryFocalCrossentropy::default()),
        "kl_divergence" | "kld" | "KLDivergence" => Box::new(KLDivergence),
        "poisson" | "Poisson" => Box::new(Poisson),
        "hinge" | "Hinge" => Box::new(Hinge),
        "squared_hinge" | "SquaredHinge" => Box::new(SquaredHinge),
        "categorical_hinge" | "CategoricalHinge" => Box::new(CategoricalHinge),
        "cosine_similarity" | "CosineSimilarity" => Box::new(CosineSimilarity),
        other => {
            return Err(Error::argument(
                "loss",
                format!("unknown loss '{other}' (known: mean_squared_error, mean_absolute_error, mean_absolute_percentage_error, mean_squared_logarithmic_error, huber, log_cosh, categorical_crossentropy, sparse_categorical_crossentropy, binary_crossentropy, binary_focal_crossentropy, kl_divergence, poisson, hinge, squared_hinge, categorical_hinge, cosine_similarity)"),
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
    if let Some((_, read)) = CUSTOM.get(name) {
        return read(config);
    }
    let from_logits = cfg.get("from_logits").and_then(|v| v.as_bool()).unwrap_or(false);
    let num = |key: &str, default: f32| cfg.get(key).and_then(|v| v.as_f64()).map(|v| v as f32).unwrap_or(default);
    let smoothing = num("label_smoothing", 0.0);
    if !(0.0..=1.0).contains(&smoothing) {
        return Err(Error::argument("label_smoothing", format!("must be in [0, 1], got {smoothing}")));
    }
    let loss: Box<dyn Loss> = match name {
        "CategoricalCrossentropy" | "categorical_crossentropy" => Box::new(CategoricalCrossentropy::new(from_logits).label_smoothing(smoothing)),
        "SparseCategoricalCrossentropy" | "sparse_categorical_crossentropy" => Box::new(SparseCategoricalCrossentropy::new(from_logits)),
        "BinaryCrossentropy" | "binary_crossentropy" => Box::new(BinaryCrossentropy::new(from_logits).label_smoothing(smoothing)),
        "BinaryFocalCrossentropy" | "binary_focal_crossentropy" => Box::new(BinaryFocalCrossentropy {
            apply_class_balancing: cfg.get("apply_class_balancing").and_then(|v| v.as_bool()).unwrap_or(false),
            alpha: num("alpha", 0.25),
            gamma: num("gamma", 2.0),
            from_logits,
            label_smoothing: smoothing,
        }),
        "Huber" | "huber" => Box::new(Huber { delta: num("delta", 1.0) }),
        _ => from_name(name)?,
    };
    match cfg.get("reduction").and_then(|r| r.as_str()) {
        None | Some("sum_over_batch_size") => Ok(loss),
        Some("sum") => Ok(Box::new(Summed(loss))),
        Some(other) => Err(Error::argument("reduction", format!("'{other}' is not supported for training (supported: sum_over_batch_size, sum)"))),
    }
}

/// A loss whose batch value is the sum of the sample losses (Keras's `reduction="sum"`).
pub struct Summed(pub Box<dyn Loss>);

impl Loss for Summed {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn per_sample(&self, y_true: &Tensor, y_pred: &Tensor) -> Result<Tensor> {
        self.0.per_sample(y_true, y_pred)
    }
    fn call(&self, y_true: &Tensor, y_pred: &Tensor) -> Result<Tensor> {
        Ok(self.per_sample(y_true, y_pred)?.sum())
    }
    fn call_masked(&self, y_true: &Tensor, y_pred: &Tensor, sample_weight: Option<&Tensor>, mask: &Tensor) -> Result<Tensor> {
        masked(&self.per_sample(y_true, y_pred)?, sample_weight, mask, false)
    }
    fn call_weighted(&self, y_true: &Tensor, y_pred: &Tensor, sample_weight: Option<&Tensor>) -> Result<Tensor> {
        match sample_weight {
            None => self.call(y_true, y_pred),
            Some(w) => Ok(weighted(&self.per_sample(y_true, y_pred)?, w)?.sum()),
        }
    }
    fn check_targets(&self, y_true: &Tensor, output_shape: &[usize]) -> Result<()> {
        self.0.check_targets(y_true, output_shape)
    }
    fn config(&self) -> Value {
        let mut c = self.0.config();
        c["reduction"] = Value::from("sum");
        c
    }
    fn serialize(&self) -> Value {
        let class = match self.0.serialize() {
            Value::Object(o) => o.get("class_name").cloned().unwrap_or(Value::from(self.name())),
            name => name,
        };
        json!({ "module": "keras.losses", "class_name": class, "config": self.config(), "registered_name": null })
    }
}

/// The losses at the positions `mask` keeps, weighted: their sum, or (with
/// `mean`) their sum over the number of kept positions (Keras's `apply_mask`
/// then `sum_over_batch_size`: `Σ l·m·w / (Σ m + ε)`).
pub(crate) fn masked(losses: &Tensor, sample_weight: Option<&Tensor>, mask: &Tensor, mean: bool) -> Result<Tensor> {
    let rank = mask.rank();
    if rank > losses.rank() || losses.shape()[..rank] != *mask.shape() {
        return Err(Error::shape("mask", format!("the output's mask {} does not match its losses {}", fmt_shape(mask.shape()), fmt_shape(losses.shape()))));
    }
    let shape: Vec<isize> = mask.shape().iter().map(|&d| d as isize).chain(std::iter::repeat_n(1, losses.rank() - rank)).collect();
    let mut kept = losses.mul(&mask.reshape(&shape)?)?;
    if let Some(w) = sample_weight {
        kept = weighted(&kept, w)?;
    }
    if !mean {
        return Ok(kept.sum());
    }
    let per_mask_entry = (losses.numel() / mask.numel().max(1)) as f32;
    let valid = mask.to_vec().iter().sum::<f32>() * per_mask_entry;
    Ok(kept.sum().scale(1.0 / (valid + EPSILON)))
}

pub(crate) fn weighted(losses: &Tensor, sample_weight: &Tensor) -> Result<Tensor> {
    let batch = losses.shape().first().copied().unwrap_or(1);
    if sample_weight.numel() != batch {
        return Err(Error::shape("sample_weight", format!("has {} weights for a batch of {batch} losses {}", sample_weight.numel(), fmt_shape(losses.shape()))));
    }
    let mut shape = vec![batch as isize];
    shape.extend(std::iter::repeat_n(1, losses.rank().saturating_sub(1)));
    losses.mul(&sample_weight.reshape(&shape)?)
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

/// Cross-entropy between one-hot (or soft) targets and predicted class
/// probabilities, with optional label smoothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct CategoricalCrossentropy {
    /// Whether `y_pred` holds logits rather than probabilities.
    pub from_logits: bool,
    /// Targets become `t · (1 - s) + s / classes`.
    pub label_smoothing: f32,
}

impl CategoricalCrossentropy {
    /// Without label smoothing; `from_logits` as Keras's argument (default `false`).
    pub fn new(from_logits: bool) -> Self {
        CategoricalCrossentropy { from_logits, label_smoothing: 0.0 }
    }
    /// Mixes the targets with the uniform distribution: `t · (1 - s) + s / classes` (default 0).
    pub fn label_smoothing(mut self, label_smoothing: f32) -> Self {
        self.label_smoothing = label_smoothing;
        self
    }
}

impl Loss for CategoricalCrossentropy {
    fn name(&self) -> &'static str {
        "categorical_crossentropy"
    }
    fn per_sample(&self, y_true: &Tensor, y_pred: &Tensor) -> Result<Tensor> {
        same_shape(self.name(), y_true, y_pred)?;
        let smoothed;
        let y_true = if self.label_smoothing != 0.0 {
            let classes = *y_pred.shape().last().unwrap_or(&1) as f32;
            smoothed = y_true.scale(1.0 - self.label_smoothing).add_scalar(self.label_smoothing / classes);
            &smoothed
        } else {
            y_true
        };
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
        json!({ "name": "categorical_crossentropy", "reduction": "sum_over_batch_size", "from_logits": self.from_logits, "label_smoothing": self.label_smoothing, "axis": -1 })
    }
    fn serialize(&self) -> Value {
        if self.from_logits || self.label_smoothing != 0.0 { probabilistic::serialized("CategoricalCrossentropy", self.config()) } else { Value::from(self.name()) }
    }
}

/// Cross-entropy between integer class ids and predicted class probabilities.
#[derive(Clone, Copy, Debug, Default)]
pub struct SparseCategoricalCrossentropy {
    /// Whether `y_pred` holds logits rather than probabilities.
    pub from_logits: bool,
}

impl SparseCategoricalCrossentropy {
    /// `from_logits` as Keras's argument (default `false`).
    pub fn new(from_logits: bool) -> Self {
        SparseCategoricalCrossentropy { from_logits }
    }

    /// Per-row losses of `[rows, classes]` predictions (and their logits, when a softmax made them).
    fn rows(&self, y_pred: &Tensor, logits: Option<&Tensor>, labels: &[usize]) -> Result<Tensor> {
        if let Some(logits) = logits.filter(|_| !self.from_logits) {
            return ops::sparse_softmax_cross_entropy(logits, labels);
        }
        if self.from_logits {
            return ops::sparse_softmax_cross_entropy(y_pred, labels);
        }
        // Keras: clip the probabilities, take logs, then the logits form.
        ops::sparse_softmax_cross_entropy(&y_pred.clip(EPSILON, 1.0 - EPSILON).log(), labels)
    }
}

/// Class ids from a `[batch, steps]` (or `[batch, steps, 1]`) tensor, one per step, in row order.
fn sequence_class_ids(y_true: &Tensor, batch: usize, steps: usize, classes: usize) -> Result<Vec<usize>> {
    let s = y_true.shape();
    if !(s == [batch, steps] || s == [batch, steps, 1]) {
        return Err(Error::shape("sparse labels", format!("expected shape ({batch}, {steps}): a class id per step, got {}", fmt_shape(s))));
    }
    class_ids(&y_true.reshape(&[-1])?, batch * steps, classes)
}

/// Integer class ids from a `[batch]` or `[batch, 1]` tensor, checked to be
/// whole numbers in `0..classes`.
pub fn class_ids(y_true: &Tensor, batch: usize, classes: usize) -> Result<Vec<usize>> {
    let s = y_true.shape();
    if !(s == [batch] || s == [batch, 1]) {
        return Err(Error::shape("sparse labels", format!("expected shape ({batch},) or ({batch}, 1), got {}", fmt_shape(s))));
    }
    let bad = |i: usize, v: &dyn std::fmt::Display| Error::argument("labels", format!("label {v} of sample {i} is not a class id in 0..={} ({classes} classes)", classes.saturating_sub(1)));
    if y_true.dtype() != DType::F32 {
        // Integer labels (an int64 .npy, Tensor::from_i64): exact, only the range to check.
        return y_true.to_i64()?.into_iter().enumerate().map(|(i, v)| usize::try_from(v).ok().filter(|&v| v < classes).ok_or_else(|| bad(i, &v))).collect();
    }
    y_true
        .data()
        .iter()
        .enumerate()
        .map(|(i, &v)| if v.fract() != 0.0 || v < 0.0 || v >= classes as f32 { Err(bad(i, &v)) } else { Ok(v as usize) })
        .collect()
}

impl Loss for SparseCategoricalCrossentropy {
    fn name(&self) -> &'static str {
        "sparse_categorical_crossentropy"
    }
    fn per_sample(&self, y_true: &Tensor, y_pred: &Tensor) -> Result<Tensor> {
        match *y_pred.shape() {
            [batch, classes] => self.rows(y_pred, y_pred.softmax_logits(), &class_ids(y_true, batch, classes)?),
            // A class per step of a sequence (a language model): each step's
            // loss, `[batch, steps]`, as Keras's (a mask can then drop steps).
            [batch, steps, classes] => {
                let labels = sequence_class_ids(y_true, batch, steps, classes)?;
                let flat = |t: &Tensor| t.reshape(&[-1, classes as isize]);
                let logits = y_pred.softmax_logits().map(flat).transpose()?;
                self.rows(&flat(y_pred)?, logits.as_ref(), &labels)?.reshape(&[batch as isize, steps as isize])
            }
            _ => Err(Error::shape(self.name(), format!("y_pred must be [batch, classes] or [batch, steps, classes], got {}", fmt_shape(y_pred.shape())))),
        }
    }
    fn check_targets(&self, y_true: &Tensor, output_shape: &[usize]) -> Result<()> {
        let n = y_true.shape().first().copied().unwrap_or(0);
        match *output_shape {
            [classes] => class_ids(y_true, n, classes).map(|_| ()),
            [steps, classes] => sequence_class_ids(y_true, n, steps, classes).map(|_| ()),
            _ => Err(Error::shape(self.name(), format!("the model must output (batch, classes) or (batch, steps, classes), it outputs (None, {:?})", output_shape))),
        }
    }
    fn config(&self) -> Value {
        json!({ "name": "sparse_categorical_crossentropy", "reduction": "sum_over_batch_size", "from_logits": self.from_logits, "ignore_class": null })
    }
    fn serialize(&self) -> Value {
        if self.from_logits { probabilistic::serialized("SparseCategoricalCrossentropy", self.config()) } else { Value::from(self.name()) }
    }
}
