//! RMSprop, Adagrad and Adadelta: per-weight step sizes from running sums of
//! squared gradients, with Keras's update rules and defaults.

use serde_json::{json, Value};
use strata_core::backend::Update;
use strata_core::{Gradients, Result, Tensor};

use super::slots::Slots;
use super::{check_hyper, common_methods, Optimizer};


/// Keras's `RMSprop`: `v = ρv + (1-ρ)g²`; centered subtracts the squared mean
/// gradient; `w -= lr·g/√(v + ε)`, through a momentum buffer if `momentum > 0`.
#[derive(Clone, Debug)]
pub struct RMSprop {
    learning_rate: f32,
    rho: f32,
    momentum: f32,
    epsilon: f32,
    centered: bool,
    iterations: u64,
    slots: Slots,
}

impl Default for RMSprop {
    /// Keras's defaults: lr 0.001, ρ 0.9, no momentum, ε 1e-7, not centered.
    fn default() -> Self {
        RMSprop { learning_rate: 0.001, rho: 0.9, momentum: 0.0, epsilon: 1e-7, centered: false, iterations: 0, slots: Slots::new(&["velocity", "average_gradient", "momentum"]) }
    }
}

impl RMSprop {
    /// RMSprop with `learning_rate` and Keras's other defaults; fails unless it is a finite number >= 0.
    pub fn new(learning_rate: f32) -> Result<Self> {
        check_hyper("learning_rate", learning_rate, None)?;
        Ok(RMSprop { learning_rate, ..RMSprop::default() })
    }
    /// Sets ρ (in `[0, 1)`), momentum (in `[0, 1)`) and whether to center.
    pub fn options(mut self, rho: f32, momentum: f32, centered: bool) -> Result<Self> {
        check_hyper("rho", rho, Some(1.0))?;
        check_hyper("momentum", momentum, Some(1.0))?;
        (self.rho, self.momentum, self.centered) = (rho, momentum, centered);
        Ok(self)
    }
}

impl Optimizer for RMSprop {
    common_methods!();
    fn name(&self) -> &'static str {
        "rmsprop"
    }
    fn apply(&mut self, params: &[Tensor], grads: &Gradients) -> Result<()> {
        super::check_params(params, grads)?;
        let (lr, rho, mu, eps, centered) = (self.learning_rate, self.rho, self.momentum, self.epsilon, self.centered);
        let rule = Update::RmsProp { learning_rate: lr, rho, momentum: mu, epsilon: eps, centered };
        for p in params {
            let Some(g) = grads.get(p) else { continue };
            p.backend().update(rule, p, self.slots.get(p, &[0.0, 0.0, 0.0]), g)?;
        }
        self.iterations += 1;
        Ok(())
    }
    fn config(&self) -> Value {
        json!({ "name": "rmsprop", "learning_rate": self.learning_rate, "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon, "centered": self.centered })
    }
}

/// Keras's `Adagrad`: `a += g²; w -= lr·g/√(a + ε)`, `a` starting at 0.1.
#[derive(Clone, Debug)]
pub struct Adagrad {
    learning_rate: f32,
    initial_accumulator_value: f32,
    epsilon: f32,
    iterations: u64,
    slots: Slots,
}

impl Default for Adagrad {
    /// Keras's defaults: lr 0.001, initial accumulator 0.1, ε 1e-7.
    fn default() -> Self {
        Adagrad { learning_rate: 0.001, initial_accumulator_value: 0.1, epsilon: 1e-7, iterations: 0, slots: Slots::new(&["accumulator"]) }
    }
}

impl Adagrad {
    /// Adagrad with `learning_rate` and Keras's other defaults; fails unless it is a finite number >= 0.
    pub fn new(learning_rate: f32) -> Result<Self> {
        check_hyper("learning_rate", learning_rate, None)?;
        Ok(Adagrad { learning_rate, ..Adagrad::default() })
    }
}

impl Optimizer for Adagrad {
    common_methods!();
    fn name(&self) -> &'static str {
        "adagrad"
    }
    fn apply(&mut self, params: &[Tensor], grads: &Gradients) -> Result<()> {
        super::check_params(params, grads)?;
        let (lr, eps, init) = (self.learning_rate, self.epsilon, self.initial_accumulator_value);
        let rule = Update::Adagrad { learning_rate: lr, epsilon: eps };
        for p in params {
            let Some(g) = grads.get(p) else { continue };
            p.backend().update(rule, p, self.slots.get(p, &[init]), g)?;
        }
        self.iterations += 1;
        Ok(())
    }
    fn config(&self) -> Value {
        json!({ "name": "adagrad", "learning_rate": self.learning_rate, "initial_accumulator_value": self.initial_accumulator_value, "epsilon": self.epsilon })
    }
}

/// Keras's `Adadelta`: step sizes from running averages of squared gradients
/// and squared updates; `w += lr·Δ`.
#[derive(Clone, Debug)]
pub struct Adadelta {
    learning_rate: f32,
    rho: f32,
    epsilon: f32,
    iterations: u64,
    slots: Slots,
}

impl Default for Adadelta {
    /// Keras's defaults: lr 0.001, ρ 0.95, ε 1e-7.
    fn default() -> Self {
        Adadelta { learning_rate: 0.001, rho: 0.95, epsilon: 1e-7, iterations: 0, slots: Slots::new(&["accumulated_grad", "accumulated_delta_var"]) }
    }
}

impl Adadelta {
    /// Adadelta with `learning_rate` and Keras's other defaults; fails unless it is a finite number >= 0.
    pub fn new(learning_rate: f32) -> Result<Self> {
        check_hyper("learning_rate", learning_rate, None)?;
        Ok(Adadelta { learning_rate, ..Adadelta::default() })
    }
}

impl Optimizer for Adadelta {
    common_methods!();
    fn name(&self) -> &'static str {
        "adadelta"
    }
    fn apply(&mut self, params: &[Tensor], grads: &Gradients) -> Result<()> {
        super::check_params(params, grads)?;
        let (lr, rho, eps) = (self.learning_rate, self.rho, self.epsilon);
        let rule = Update::Adadelta { learning_rate: lr, rho, epsilon: eps };
        for p in params {
            let Some(g) = grads.get(p) else { continue };
            p.backend().update(rule, p, self.slots.get(p, &[0.0, 0.0]), g)?;
        }
        self.iterations += 1;
        Ok(())
    }
    fn config(&self) -> Value {
        json!({ "name": "adadelta", "learning_rate": self.learning_rate, "rho": self.rho, "epsilon": self.epsilon })
    }
}
