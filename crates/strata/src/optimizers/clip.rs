//! Gradient clipping, as Keras's `clipnorm`, `global_clipnorm` and `clipvalue`
//! arguments do before an optimizer's update.

use serde_json::Value;
use strata_core::{Error, Gradients, Result, Tensor};

use super::Optimizer;

/// How gradients are limited before each update.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Clip {
    /// Each gradient tensor rescaled so its L2 norm is at most this.
    Norm(f32),
    /// All gradients rescaled together so their joint L2 norm is at most this.
    GlobalNorm(f32),
    /// Each element limited to `[-v, v]`.
    Value(f32),
}

impl Clip {
    fn apply(self, params: &[Tensor], grads: &mut Gradients) -> Result<()> {
        match self {
            Clip::Norm(c) => grads.map(|g| {
                let norm = g.sum_of_squares().sqrt() as f32;
                if norm > c { g.scale(c / norm) } else { g.clone() }
            }),
            Clip::GlobalNorm(c) => {
                let norm = grads.global_norm(params);
                if norm > c { grads.map(|g| g.scale(c / norm)) } else { Ok(()) }
            }
            Clip::Value(c) => grads.map(|g| g.clip(-c, c)),
        }
    }
    fn key(self) -> (&'static str, f32) {
        match self {
            Clip::Norm(c) => ("clipnorm", c),
            Clip::GlobalNorm(c) => ("global_clipnorm", c),
            Clip::Value(c) => ("clipvalue", c),
        }
    }
}

/// An optimizer whose gradients are clipped first.
pub struct Clipped {
    inner: Box<dyn Optimizer>,
    clip: Clip,
}

/// Wraps `optimizer` so every update clips the gradients first.
pub fn with_clipping(optimizer: Box<dyn Optimizer>, clip: Clip) -> Result<Box<dyn Optimizer>> {
    let (key, c) = clip.key();
    if !(c.is_finite() && c > 0.0) {
        return Err(Error::argument(key, format!("must be a positive number, received {key}={c}")));
    }
    Ok(Box::new(Clipped { inner: optimizer, clip }))
}

impl Optimizer for Clipped {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn apply(&mut self, params: &[Tensor], grads: &Gradients) -> Result<()> {
        let mut grads = grads.clone();
        self.clip.apply(params, &mut grads)?;
        self.inner.apply(params, &grads)
    }
    super::delegate_rate!();
    fn config(&self) -> Value {
        let mut c = self.inner.config();
        let (key, value) = self.clip.key();
        c[key] = Value::from(value);
        c
    }
    super::delegate_state!();
}
