//! Adamax and Nadam, Adam's relatives, with Keras's update rules and defaults.

use serde_json::{json, Value};
use strata_core::backend::Update;
use strata_core::{Gradients, Result, Tensor};

use super::slots::Slots;
use super::{check_hyper, common_methods, Optimizer};

/// Keras's `Adamax`: Adam with the infinity norm,
/// `u = max(β₂u, |g|)`, `w -= lr·m / ((1 - β₁ᵗ)(u + ε))`.
#[derive(Clone, Debug)]
pub struct Adamax {
    learning_rate: f32,
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    iterations: u64,
    slots: Slots,
}

impl Default for Adamax {
    /// Keras's defaults: lr 0.001, β₁ 0.9, β₂ 0.999, ε 1e-7.
    fn default() -> Self {
        Adamax { learning_rate: 0.001, beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7, iterations: 0, slots: Slots::new(&["m", "u"]) }
    }
}

impl Adamax {
    /// Adamax with `learning_rate` and Keras's other defaults; fails unless it is a finite number >= 0.
    pub fn new(learning_rate: f32) -> Result<Self> {
        check_hyper("learning_rate", learning_rate, None)?;
        Ok(Adamax { learning_rate, ..Adamax::default() })
    }
}

impl Optimizer for Adamax {
    common_methods!();
    fn name(&self) -> &'static str {
        "adamax"
    }
    fn apply(&mut self, params: &[Tensor], grads: &Gradients) -> Result<()> {
        super::check_params(params, grads)?;
        let (lr, b1, b2, eps) = (self.learning_rate, self.beta_1, self.beta_2, self.epsilon);
        let b1_power = b1.powi(self.iterations as i32 + 1);
        let rule = Update::Adamax { learning_rate: lr, beta_1: b1, beta_2: b2, epsilon: eps, beta_1_power: b1_power };
        for p in params {
            let Some(g) = grads.get(p) else { continue };
            p.backend().update(rule, p, self.slots.get(p, &[0.0, 0.0]), g)?;
        }
        self.iterations += 1;
        Ok(())
    }
    fn config(&self) -> Value {
        json!({ "name": "adamax", "learning_rate": self.learning_rate, "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon })
    }
}

/// Keras's `Nadam`: Adam with Nesterov momentum and Keras's momentum schedule
/// `μₜ = β₁(1 - 0.5·0.96ᵗ)`.
#[derive(Clone, Debug)]
pub struct Nadam {
    learning_rate: f32,
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    iterations: u64,
    /// Π μ over steps 1..=n, cached as (n, product); derived from the step
    /// count, so a restored optimizer recomputes it.
    u_product: (u64, f32),
    slots: Slots,
}

impl Default for Nadam {
    /// Keras's defaults: lr 0.001, β₁ 0.9, β₂ 0.999, ε 1e-7.
    fn default() -> Self {
        Nadam { learning_rate: 0.001, beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7, iterations: 0, u_product: (0, 1.0), slots: Slots::new(&["m", "v"]) }
    }
}

impl Nadam {
    /// Nadam with `learning_rate` and Keras's other defaults; fails unless it is a finite number >= 0.
    pub fn new(learning_rate: f32) -> Result<Self> {
        check_hyper("learning_rate", learning_rate, None)?;
        Ok(Nadam { learning_rate, ..Nadam::default() })
    }
    fn mu(&self, step: u64) -> f32 {
        self.beta_1 * (1.0 - 0.5 * 0.96f32.powf(step as f32))
    }
    /// Π μ over steps 1..=`steps`, multiplied in step order (as Keras accumulates it).
    fn u_product(&mut self, steps: u64) -> f32 {
        if self.u_product.0 != steps {
            let from = if self.u_product.0 < steps { self.u_product } else { (0, 1.0) };
            let product = (from.0 + 1..=steps).fold(from.1, |p, t| p * self.mu(t));
            self.u_product = (steps, product);
        }
        self.u_product.1
    }
}

impl Optimizer for Nadam {
    common_methods!();
    fn name(&self) -> &'static str {
        "nadam"
    }
    fn apply(&mut self, params: &[Tensor], grads: &Gradients) -> Result<()> {
        super::check_params(params, grads)?;
        let (lr, b1, b2, eps) = (self.learning_rate, self.beta_1, self.beta_2, self.epsilon);
        let t = self.iterations + 1;
        let (u_t, u_t1) = (self.mu(t), self.mu(t + 1));
        let u_prod = self.u_product(t);
        let u_prod_next = u_prod * u_t1;
        let b2_power = b2.powf(t as f32);
        let rule = Update::Nadam { learning_rate: lr, beta_1: b1, beta_2: b2, epsilon: eps, u_t, u_t1, u_prod, u_prod_next, beta_2_power: b2_power };
        for p in params {
            let Some(g) = grads.get(p) else { continue };
            p.backend().update(rule, p, self.slots.get(p, &[0.0, 0.0]), g)?;
        }
        self.iterations += 1;
        Ok(())
    }
    fn config(&self) -> Value {
        json!({ "name": "nadam", "learning_rate": self.learning_rate, "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon })
    }
}
