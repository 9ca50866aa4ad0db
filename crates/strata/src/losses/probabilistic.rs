//! Losses between distributions, counts and directions, as Keras defines them.

use serde_json::{json, Value};
use strata_core::{Result, Tensor};

use super::regression::simple_loss;
use super::{same_shape, Loss, EPSILON};

simple_loss!(
    /// `Σ y_true · log(y_true / y_pred)`, both clipped to `[ε, 1]`.
    KLDivergence, "kl_divergence",
    |t, p| {
        let (t, p) = (t.clip(EPSILON, 1.0), p.clip(EPSILON, 1.0));
        t.mul(&t.div(&p)?.log())?.sum_axis(-1, false)
    }
);

simple_loss!(
    /// `mean(y_pred - y_true · log(y_pred + ε))`.
    Poisson, "poisson", |t, p| p.sub(&t.mul(&p.add_scalar(EPSILON).log())?)?.mean_axis(-1, false)
);

/// `x / sqrt(max(Σ x², 1e-12))` along the last axis.
fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    x.div(&x.square().sum_axis(-1, true)?.clip(1e-12, f32::MAX).sqrt())
}

simple_loss!(
    /// `-Σ normalize(y_true) · normalize(y_pred)`: -1 for the same direction.
    CosineSimilarity, "cosine_similarity", |t, p| Ok(l2_normalize(t)?.mul(&l2_normalize(p)?)?.sum_axis(-1, false)?.neg())
);

/// Element-wise binary cross-entropy: TensorFlow's stable form on logits,
/// else on probabilities clipped to `[ε, 1 - ε]`.
fn binary_crossentropy(t: &Tensor, p: &Tensor, from_logits: bool) -> Result<Tensor> {
    if from_logits {
        // max(z, 0) - z·t + log(1 + e^-|z|)
        let z = p;
        return z.relu().sub(&z.mul(t)?)?.add(&z.abs().neg().exp().add_scalar(1.0).log());
    }
    let p = p.clip(EPSILON, 1.0 - EPSILON);
    let one = Tensor::scalar(1.0);
    let pos = t.mul(&p.log())?;
    let neg = one.sub(t)?.mul(&one.sub(&p)?.log())?;
    Ok(pos.add(&neg)?.neg())
}

/// Targets moved towards 0.5 by `label_smoothing`, as Keras's binary losses do.
fn smooth_binary(t: &Tensor, label_smoothing: f32) -> Tensor {
    if label_smoothing == 0.0 { t.clone() } else { t.scale(1.0 - label_smoothing).add_scalar(0.5 * label_smoothing) }
}

/// Keras's full form of a loss with options (`{"class_name": ..., "config": ...}`).
pub(crate) fn serialized(class_name: &str, config: Value) -> Value {
    json!({ "module": "keras.losses", "class_name": class_name, "config": config, "registered_name": null })
}

/// Binary cross-entropy on probabilities (or logits with `from_logits`),
/// averaged over the last axis, with optional label smoothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct BinaryCrossentropy {
    /// Whether predictions are logits (a sigmoid is applied inside the loss)
    /// rather than probabilities (Keras's default `false`).
    pub from_logits: bool,
    /// Moves targets towards 0.5: `t · (1 - s) + s / 2` (Keras's default 0).
    pub label_smoothing: f32,
}

impl BinaryCrossentropy {
    /// Without label smoothing; `from_logits` as Keras's argument.
    pub fn new(from_logits: bool) -> Self {
        BinaryCrossentropy { from_logits, label_smoothing: 0.0 }
    }
    /// Targets become `t · (1 - s) + s / 2`.
    pub fn label_smoothing(mut self, label_smoothing: f32) -> Self {
        self.label_smoothing = label_smoothing;
        self
    }
}

impl Loss for BinaryCrossentropy {
    fn name(&self) -> &'static str {
        "binary_crossentropy"
    }
    fn per_sample(&self, t: &Tensor, p: &Tensor) -> Result<Tensor> {
        same_shape(self.name(), t, p)?;
        binary_crossentropy(&smooth_binary(t, self.label_smoothing), p, self.from_logits)?.mean_axis(-1, false)
    }
    fn config(&self) -> Value {
        json!({ "name": "binary_crossentropy", "reduction": "sum_over_batch_size", "from_logits": self.from_logits, "label_smoothing": self.label_smoothing })
    }
    fn serialize(&self) -> Value {
        if self.from_logits || self.label_smoothing != 0.0 { serialized("BinaryCrossentropy", self.config()) } else { Value::from(self.name()) }
    }
}

/// Keras's `BinaryFocalCrossentropy`: binary cross-entropy scaled by
/// `(1 - p_t)^gamma`, so well-classified examples count less; with
/// `apply_class_balancing`, positives also weigh `alpha` and negatives `1 - alpha`.
#[derive(Clone, Copy, Debug)]
pub struct BinaryFocalCrossentropy {
    /// Whether positives weigh `alpha` and negatives `1 - alpha` (Keras's default `false`).
    pub apply_class_balancing: bool,
    /// The positives' weight with class balancing (Keras's default 0.25).
    pub alpha: f32,
    /// The focusing exponent of `(1 - p_t)`; 0 gives plain binary cross-entropy (Keras's default 2).
    pub gamma: f32,
    /// Whether predictions are logits rather than probabilities (Keras's default `false`).
    pub from_logits: bool,
    /// Moves targets towards 0.5: `t · (1 - s) + s / 2` (Keras's default 0).
    pub label_smoothing: f32,
}

impl Default for BinaryFocalCrossentropy {
    /// Keras's defaults: no class balancing, alpha 0.25, gamma 2.
    fn default() -> Self {
        BinaryFocalCrossentropy { apply_class_balancing: false, alpha: 0.25, gamma: 2.0, from_logits: false, label_smoothing: 0.0 }
    }
}

impl Loss for BinaryFocalCrossentropy {
    fn name(&self) -> &'static str {
        "binary_focal_crossentropy"
    }
    fn per_sample(&self, t: &Tensor, p: &Tensor) -> Result<Tensor> {
        same_shape(self.name(), t, p)?;
        let t = smooth_binary(t, self.label_smoothing);
        let bce = binary_crossentropy(&t, p, self.from_logits)?;
        let prob = if self.from_logits { p.sigmoid() } else { p.clone() };
        let one = Tensor::scalar(1.0);
        let p_t = t.mul(&prob)?.add(&one.sub(&t)?.mul(&one.sub(&prob)?)?)?;
        let mut loss = one.sub(&p_t)?.powf(self.gamma).mul(&bce)?;
        if self.apply_class_balancing {
            loss = loss.mul(&t.scale(self.alpha).add(&one.sub(&t)?.scale(1.0 - self.alpha))?)?;
        }
        loss.mean_axis(-1, false)
    }
    fn config(&self) -> Value {
        json!({
            "name": "binary_focal_crossentropy", "reduction": "sum_over_batch_size", "apply_class_balancing": self.apply_class_balancing,
            "alpha": self.alpha, "gamma": self.gamma, "from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
        })
    }
    fn serialize(&self) -> Value {
        serialized("BinaryFocalCrossentropy", self.config())
    }
}
