//! Keras's `AUC`: the area under the ROC curve, from confusion counts at
//! fixed thresholds accumulated over batches, summed by interpolation.

use strata_core::{Result, Tensor};

use super::classification::check_same_shape;
use super::{weight_of, Metric};

/// Area under the ROC curve over every element (binary or one-hot targets, as
/// Keras with `multi_label=False`), at `num_thresholds` evenly spaced thresholds.
#[derive(Clone, Debug)]
pub struct Auc {
    thresholds: Vec<f32>,
    /// Per threshold: true positives, false positives, true negatives, false negatives.
    counts: Vec<[f64; 4]>,
}

impl Default for Auc {
    /// Keras's default: 200 thresholds.
    fn default() -> Self {
        Auc::new(200)
    }
}

impl Auc {
    /// Thresholds `-ε, 1/(n-1), ..., (n-2)/(n-1), 1+ε`, as Keras places them (`n >= 2`).
    pub fn new(num_thresholds: usize) -> Self {
        let n = num_thresholds.max(2);
        let eps = 1e-7;
        let mut thresholds = vec![0.0 - eps];
        thresholds.extend((1..n - 1).map(|i| i as f32 / (n - 1) as f32));
        thresholds.push(1.0 + eps);
        Auc { counts: vec![[0.0; 4]; n], thresholds }
    }
}

impl Metric for Auc {
    fn name(&self) -> &str {
        "auc"
    }
    fn config(&self) -> serde_json::Value {
        match self.thresholds.len() {
            200 => serde_json::Value::from("auc"),
            n => serde_json::json!({ "module": "keras.metrics", "class_name": "AUC", "config": { "name": "auc", "num_thresholds": n }, "registered_name": null }),
        }
    }
    fn update(&mut self, y_true: &Tensor, y_pred: &Tensor, sample_weight: Option<&[f32]>) -> Result<()> {
        check_same_shape("auc", y_true, y_pred)?;
        let per_row = y_true.shape().last().copied().unwrap_or(1).max(1);
        for (i, (&t, &p)) in y_true.data().iter().zip(y_pred.data().iter()).enumerate() {
            let w = weight_of(sample_weight, i / per_row);
            let positive = t > 0.5;
            for (threshold, c) in self.thresholds.iter().zip(self.counts.iter_mut()) {
                let k = match (positive, p > *threshold) {
                    (true, true) => 0,
                    (false, true) => 1,
                    (false, false) => 2,
                    (true, false) => 3,
                };
                c[k] += w;
            }
        }
        Ok(())
    }
    fn result(&self) -> f64 {
        let rate = |a: f64, b: f64| if a + b == 0.0 { 0.0 } else { a / (a + b) };
        let points: Vec<(f64, f64)> = self.counts.iter().map(|&[tp, fp, tn, fn_]| (rate(fp, tn), rate(tp, fn_))).collect();
        points.windows(2).map(|w| (w[0].0 - w[1].0) * (w[0].1 + w[1].1) / 2.0).sum()
    }
    fn reset(&mut self) {
        self.counts.iter_mut().for_each(|c| *c = [0.0; 4]);
    }
}
