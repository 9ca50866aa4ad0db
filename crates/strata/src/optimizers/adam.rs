//! Adam (Kingma & Ba), with Keras's update rule and defaults.

use serde_json::{json, Value};
use strata_core::backend::{AdamStep, Update};
use strata_core::{Gradients, Result, Tensor};

use super::slots::Slots;
use super::{check_hyper, common_methods, Optimizer};

/// Keras's `Adam`. At step t:
/// `m += (g - m)(1 - β₁)`, `v += (g² - v)(1 - β₂)`,
/// `w -= lr·√(1 - β₂ᵗ)/(1 - β₁ᵗ) · m / (√v + ε)`.
#[derive(Clone, Debug)]
pub struct Adam {
    learning_rate: f32,
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    iterations: u64,
    amsgrad: bool,
    /// Decoupled weight decay (AdamW): `w -= lr·wd·w` before each update.
    weight_decay: Option<f32>,
    /// First and second moment per weight (and the running maximum of the
    /// second with AMSGrad).
    slots: Slots,
}

impl Default for Adam {
    /// Keras's defaults: lr 0.001, β₁ 0.9, β₂ 0.999, ε 1e-7.
    fn default() -> Self {
        Adam { learning_rate: 0.001, beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7, iterations: 0, amsgrad: false, weight_decay: None, slots: Slots::new(&["m", "v"]) }
    }
}

impl Adam {
    /// Adam with `learning_rate` and Keras's other defaults.
    pub fn new(learning_rate: f32) -> Result<Self> {
        check_hyper("learning_rate", learning_rate, None)?;
        Ok(Adam { learning_rate, ..Adam::default() })
    }
    /// Sets β₁ and β₂, each in `[0, 1)`.
    pub fn betas(mut self, beta_1: f32, beta_2: f32) -> Result<Self> {
        check_hyper("beta_1", beta_1, Some(1.0))?;
        check_hyper("beta_2", beta_2, Some(1.0))?;
        self.beta_1 = beta_1;
        self.beta_2 = beta_2;
        Ok(self)
    }
    /// Sets ε (added to √v).
    pub fn epsilon(mut self, epsilon: f32) -> Result<Self> {
        check_hyper("epsilon", epsilon, None)?;
        self.epsilon = epsilon;
        Ok(self)
    }
    /// Keras's AMSGrad variant: divide by the running maximum of `v`.
    pub fn amsgrad(mut self, on: bool) -> Self {
        self.amsgrad = on;
        self.slots = Slots::new(if on { &["m", "v", "v_hat"] } else { &["m", "v"] });
        self
    }
    /// Keras's `AdamW`: Adam with decoupled weight decay (Keras's default 0.004).
    pub fn adamw(learning_rate: f32, weight_decay: f32) -> Result<Self> {
        check_hyper("weight_decay", weight_decay, None)?;
        Ok(Adam { weight_decay: Some(weight_decay), ..Adam::new(learning_rate)? })
    }
    /// The first and second moments kept for `weight`, once it has been updated.
    pub fn moments(&self, weight: &Tensor) -> Option<(Vec<f32>, Vec<f32>)> {
        self.slots.peek(weight).map(|s| (s[0].to_vec(), s[1].to_vec()))
    }
}

impl Optimizer for Adam {
    common_methods!();
    fn name(&self) -> &'static str {
        if self.weight_decay.is_some() { "adamw" } else { "adam" }
    }
    fn apply(&mut self, params: &[Tensor], grads: &Gradients) -> Result<()> {
        super::check_params(params, grads)?;
        let t = (self.iterations + 1) as f64;
        let (b1, b2, eps) = (self.beta_1, self.beta_2, self.epsilon);
        let alpha = (self.learning_rate as f64 * (1.0 - (b2 as f64).powf(t)).sqrt() / (1.0 - (b1 as f64).powf(t))) as f32;
        let rule = Update::Adam(AdamStep { alpha, beta_1: b1, beta_2: b2, epsilon: eps });
        let init: &[f32] = if self.amsgrad { &[0.0; 3] } else { &[0.0; 2] };
        for p in params {
            let Some(g) = grads.get(p) else { continue };
            if let Some(wd) = self.weight_decay {
                p.backend().update(Update::Decay { rate: wd * self.learning_rate }, p, &[], g)?;
            }
            p.backend().update(rule, p, self.slots.get(p, init), g)?;
        }
        self.iterations += 1;
        Ok(())
    }
    fn config(&self) -> Value {
        json!({
            "name": "adam", "learning_rate": self.learning_rate, "beta_1": self.beta_1,
            "beta_2": self.beta_2, "epsilon": self.epsilon, "amsgrad": self.amsgrad, "weight_decay": self.weight_decay,
        })
    }
}
