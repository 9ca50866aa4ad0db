//! Classification metrics beyond plain accuracy, with Keras's definitions:
//! top-k accuracy, and precision and recall at a 0.5 threshold.

use strata_core::{fmt_shape, Error, Result, Tensor};

use super::{weight_of, Metric};

/// Keras's `top_k_categorical_accuracy` (one-hot targets) and
/// `sparse_top_k_categorical_accuracy` (class ids): whether the true class is
/// among the `k` highest predictions (ties counted in its favour, as Keras's `in_top_k`).
#[derive(Clone, Debug)]
pub struct TopKAccuracy {
    k: usize,
    name: String,
    hits: f64,
    total: f64,
}

impl TopKAccuracy {
    /// Keras's default is `k = 5`.
    pub fn new(k: usize) -> Self {
        TopKAccuracy { k, name: "top_k_categorical_accuracy".into(), hits: 0.0, total: 0.0 }
    }
}

impl Metric for TopKAccuracy {
    fn name(&self) -> &str {
        &self.name
    }
    fn config(&self) -> serde_json::Value {
        match self.k {
            5 => serde_json::Value::from(self.name.as_str()),
            k => serde_json::json!({ "module": "keras.metrics", "class_name": "TopKCategoricalAccuracy", "config": { "name": self.name, "k": k }, "registered_name": null }),
        }
    }
    fn update(&mut self, y_true: &Tensor, y_pred: &Tensor, sample_weight: Option<&[f32]>) -> Result<()> {
        let classes = *y_pred.shape().last().ok_or_else(|| Error::shape(&self.name, "y_pred must have a class axis"))?;
        let rows = y_pred.numel() / classes.max(1);
        let (t, p) = (y_true.data(), y_pred.data());
        let sparse = y_true.numel() == rows;
        if !sparse && y_true.shape() != y_pred.shape() {
            return Err(Error::shape(&self.name, format!("cannot compare y_true {} with y_pred {}", fmt_shape(y_true.shape()), fmt_shape(y_pred.shape()))));
        }
        for r in 0..rows {
            let row = &p[r * classes..(r + 1) * classes];
            let target = if sparse { t[r] as usize } else { super::argmax(&t[r * classes..(r + 1) * classes]) };
            let w = weight_of(sample_weight, r);
            self.total += w;
            let Some(&score) = row.get(target) else { continue };
            let higher = row.iter().filter(|&&v| v > score).count();
            if higher < self.k {
                self.hits += w;
            }
        }
        Ok(())
    }
    fn result(&self) -> f64 {
        if self.total == 0.0 { 0.0 } else { self.hits / self.total }
    }
    fn reset(&mut self) {
        (self.hits, self.total) = (0.0, 0.0);
    }
}

/// Which of true positives over predicted positives (`Precision`) or over
/// actual positives (`Recall`) to report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Precision,
    Recall,
}

/// Keras's `Precision` and `Recall` with the default threshold 0.5, over every
/// element (binary or one-hot targets).
#[derive(Clone, Debug)]
pub struct PrecisionRecall {
    kind: Kind,
    true_positives: f64,
    false_positives: f64,
    false_negatives: f64,
}

impl PrecisionRecall {
    /// Keras's `Precision`: true positives over predicted positives (`precision` in the logs).
    pub fn precision() -> Self {
        PrecisionRecall { kind: Kind::Precision, true_positives: 0.0, false_positives: 0.0, false_negatives: 0.0 }
    }
    /// Keras's `Recall`: true positives over actual positives (`recall` in the logs).
    pub fn recall() -> Self {
        PrecisionRecall { kind: Kind::Recall, ..PrecisionRecall::precision() }
    }
}

impl Metric for PrecisionRecall {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Precision => "precision",
            Kind::Recall => "recall",
        }
    }
    fn update(&mut self, y_true: &Tensor, y_pred: &Tensor, sample_weight: Option<&[f32]>) -> Result<()> {
        check_same_shape(self.name(), y_true, y_pred)?;
        let per_row = y_true.shape().last().copied().unwrap_or(1).max(1);
        for (i, (&t, &p)) in y_true.data().iter().zip(y_pred.data().iter()).enumerate() {
            let w = weight_of(sample_weight, i / per_row);
            match (t > 0.5, p > 0.5) {
                (true, true) => self.true_positives += w,
                (false, true) => self.false_positives += w,
                (true, false) => self.false_negatives += w,
                (false, false) => {}
            }
        }
        Ok(())
    }
    fn result(&self) -> f64 {
        let denominator = match self.kind {
            Kind::Precision => self.true_positives + self.false_positives,
            Kind::Recall => self.true_positives + self.false_negatives,
        };
        if denominator == 0.0 { 0.0 } else { self.true_positives / denominator }
    }
    fn reset(&mut self) {
        (self.true_positives, self.false_positives, self.false_negatives) = (0.0, 0.0, 0.0);
    }
}

pub(crate) fn check_same_shape(name: &str, y_true: &Tensor, y_pred: &Tensor) -> Result<()> {
    if y_true.shape() != y_pred.shape() {
        return Err(Error::shape(name, format!("y_true {} and y_pred {} must have the same shape", fmt_shape(y_true.shape()), fmt_shape(y_pred.shape()))));
    }
    Ok(())
}

/// The mean of an element-wise error over all samples (Keras's `mean_squared_error`
/// and `mean_absolute_error` metrics).
#[derive(Clone, Debug)]
pub struct MeanError {
    squared: bool,
    /// The name it logs under: as asked for (`"mae"` logs `mae`, as in Keras 3).
    name: &'static str,
    total: f64,
    count: f64,
}

impl MeanError {
    /// Keras's `mean_squared_error` metric.
    pub fn squared() -> Self {
        MeanError { squared: true, name: "mean_squared_error", total: 0.0, count: 0.0 }
    }
    /// Keras's `mean_absolute_error` metric.
    pub fn absolute() -> Self {
        MeanError { squared: false, name: "mean_absolute_error", total: 0.0, count: 0.0 }
    }
    /// The same metric logged under Keras's short name (`mse`, `mae`).
    pub(crate) fn short(mut self) -> Self {
        self.name = if self.squared { "mse" } else { "mae" };
        self
    }
}

impl Metric for MeanError {
    fn name(&self) -> &str {
        self.name
    }
    fn update(&mut self, y_true: &Tensor, y_pred: &Tensor, sample_weight: Option<&[f32]>) -> Result<()> {
        check_same_shape(self.name(), y_true, y_pred)?;
        // Keras: the mean over each sample's last axis, then the weighted mean over samples.
        let per_row = y_true.shape().last().copied().unwrap_or(1).max(1);
        let (t, p) = (y_true.data(), y_pred.data());
        for (r, (tr, pr)) in t.chunks(per_row).zip(p.chunks(per_row)).enumerate() {
            let sum: f64 = tr.iter().zip(pr).map(|(&t, &p)| (p - t) as f64).map(|e| if self.squared { e * e } else { e.abs() }).sum();
            let w = weight_of(sample_weight, r);
            self.total += w * sum / per_row as f64;
            self.count += w;
        }
        Ok(())
    }
    fn result(&self) -> f64 {
        if self.count == 0.0 { 0.0 } else { self.total / self.count }
    }
    fn reset(&mut self) {
        (self.total, self.count) = (0.0, 0.0);
    }
}
