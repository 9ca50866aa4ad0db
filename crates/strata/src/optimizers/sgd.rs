//! Stochastic gradient descent, optionally with (Nesterov) momentum.

use serde_json::{json, Value};
use strata_core::backend::Update;
use strata_core::{Gradients, Result, Tensor};

use super::slots::Slots;
use super::{check_hyper, common_methods, Optimizer};

/// Keras's `SGD`: `w -= lr·g`; with momentum `m = momentum·m - lr·g; w += m`
/// (Nesterov: `w += momentum·m - lr·g`).
#[derive(Clone, Debug)]
pub struct SGD {
    learning_rate: f32,
    momentum: f32,
    nesterov: bool,
    iterations: u64,
    slots: Slots,
}

impl Default for SGD {
    /// Keras's defaults: learning rate 0.01, no momentum.
    fn default() -> Self {
        SGD { learning_rate: 0.01, momentum: 0.0, nesterov: false, iterations: 0, slots: Slots::new(&["velocity"]) }
    }
}

impl SGD {
    /// Plain gradient descent with step `learning_rate`.
    pub fn new(learning_rate: f32) -> Result<Self> {
        check_hyper("learning_rate", learning_rate, None)?;
        Ok(SGD { learning_rate, ..SGD::default() })
    }
    /// Adds momentum in `[0, 1)`, Nesterov-style if `nesterov`.
    pub fn momentum(mut self, momentum: f32, nesterov: bool) -> Result<Self> {
        check_hyper("momentum", momentum, Some(1.0))?;
        self.momentum = momentum;
        self.nesterov = nesterov;
        Ok(self)
    }
}

impl Optimizer for SGD {
    common_methods!();
    fn name(&self) -> &'static str {
        "sgd"
    }
    fn apply(&mut self, params: &[Tensor], grads: &Gradients) -> Result<()> {
        super::check_params(params, grads)?;
        let (lr, mu) = (self.learning_rate, self.momentum);
        let rule = Update::Sgd { learning_rate: lr, momentum: mu, nesterov: self.nesterov };
        for p in params {
            let Some(g) = grads.get(p) else { continue };
            let slots = if mu == 0.0 { &[] } else { self.slots.get(p, &[0.0]) };
            p.backend().update(rule, p, slots, g)?;
        }
        self.iterations += 1;
        Ok(())
    }
    fn config(&self) -> Value {
        json!({ "name": "SGD", "learning_rate": self.learning_rate, "momentum": self.momentum, "nesterov": self.nesterov })
    }
}
