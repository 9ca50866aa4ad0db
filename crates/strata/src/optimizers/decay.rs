//! Decoupled weight decay for any optimizer, as Keras's `weight_decay=`
//! argument: before each update, `w -= w * weight_decay * learning_rate`.

use serde_json::Value;
use strata_core::backend::Update;
use strata_core::{Error, Gradients, Result, Tensor};

use super::Optimizer;

/// An optimizer whose weights decay before each update.
pub struct WeightDecayed {
    inner: Box<dyn Optimizer>,
    weight_decay: f32,
}

/// Wraps `optimizer` with decoupled weight decay (Adam has it built in as AdamW).
pub fn with_weight_decay(optimizer: Box<dyn Optimizer>, weight_decay: f32) -> Result<Box<dyn Optimizer>> {
    if !(weight_decay.is_finite() && weight_decay >= 0.0) {
        return Err(Error::argument("weight_decay", format!("must be a non-negative number, received weight_decay={weight_decay}")));
    }
    Ok(Box::new(WeightDecayed { inner: optimizer, weight_decay }))
}

impl Optimizer for WeightDecayed {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn apply(&mut self, params: &[Tensor], grads: &Gradients) -> Result<()> {
        let rate = self.weight_decay * self.inner.learning_rate();
        for p in params {
            let Some(g) = grads.get(p) else { continue };
            p.backend().update(Update::Decay { rate }, p, &[], g)?;
        }
        self.inner.apply(params, grads)
    }
    super::delegate_rate!();
    fn config(&self) -> Value {
        let mut c = self.inner.config();
        c["weight_decay"] = Value::from(self.weight_decay);
        c
    }
    super::delegate_state!();
}
