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

/// Binary cross-entropy on probabilities (or logits with `from_logits`),
/// averaged over the last axis.
#[derive(Clone, Copy, Debug, Default)]
pub struct BinaryCrossentropy {
    pub from_logits: bool,
}

impl BinaryCrossentropy {
    pub fn new(from_logits: bool) -> Self {
        BinaryCrossentropy { from_logits }
    }
}

impl Loss for BinaryCrossentropy {
    fn name(&self) -> &'static str {
        "binary_crossentropy"
    }
    fn per_sample(&self, t: &Tensor, p: &Tensor) -> Result<Tensor> {
        same_shape(self.name(), t, p)?;
        if self.from_logits {
            // max(z, 0) - z·t + log(1 + e^-|z|), TensorFlow's stable form.
            let z = p;
            return z.relu().sub(&z.mul(t)?)?.add(&z.abs().neg().exp().add_scalar(1.0).log())?.mean_axis(-1, false);
        }
        let p = p.clip(EPSILON, 1.0 - EPSILON);
        let one = Tensor::scalar(1.0);
        let pos = t.mul(&p.log())?;
        let neg = one.sub(t)?.mul(&one.sub(&p)?.log())?;
        Ok(pos.add(&neg)?.mean_axis(-1, false)?.neg())
    }
    fn config(&self) -> Value {
        json!({ "name": "binary_crossentropy", "reduction": "sum_over_batch_size", "from_logits": self.from_logits, "label_smoothing": 0.0 })
    }
}
