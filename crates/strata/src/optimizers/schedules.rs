//! Learning-rate schedules (Keras's `keras.optimizers.schedules`): the rate
//! as a function of the optimizer's update count, and the optimizer wrapper
//! that sets it before every update.

use std::f64::consts::PI;

use serde_json::{json, Value};
use strata_core::{Error, Gradients, Result, Tensor};

use super::Optimizer;
use crate::registry::Registry;

/// A learning rate that depends on the step (the number of updates done so far).
#[derive(Clone, Debug, PartialEq)]
pub enum Schedule {
    /// `initial * decay_rate^(step / decay_steps)` (the exponent floored with `staircase`).
    ExponentialDecay {
        /// The rate at step 0.
        initial_learning_rate: f64,
        /// Steps over which the rate is multiplied once by `decay_rate`.
        decay_steps: f64,
        /// Factor applied every `decay_steps` steps.
        decay_rate: f64,
        /// Whether the rate drops in whole steps every `decay_steps` (Keras's default `false`).
        staircase: bool,
    },
    /// `initial / (1 + decay_rate * step / decay_steps)` (floored with `staircase`).
    InverseTimeDecay {
        /// The rate at step 0.
        initial_learning_rate: f64,
        /// Steps that make one unit of `step / decay_steps`.
        decay_steps: f64,
        /// How fast the rate falls: the rate is halved when `decay_rate · step / decay_steps` reaches 1.
        decay_rate: f64,
        /// Whether `step / decay_steps` is floored, so the rate drops in whole steps (Keras's default `false`).
        staircase: bool,
    },
    /// `values[i]` while `step <= boundaries[i]`, the last value after.
    PiecewiseConstantDecay {
        /// Increasing steps at which the rate changes.
        boundaries: Vec<f64>,
        /// The rate in each interval: one more value than `boundaries`.
        values: Vec<f64>,
    },
    /// From `initial` to `end_learning_rate` along `(1 - step / decay_steps)^power`, optionally cycling.
    PolynomialDecay {
        /// The rate at step 0.
        initial_learning_rate: f64,
        /// Steps to reach `end_learning_rate`.
        decay_steps: f64,
        /// The rate after `decay_steps` (Keras's default 0.0001).
        end_learning_rate: f64,
        /// Exponent of the polynomial (Keras's default 1, a straight line).
        power: f64,
        /// Whether to start over, with a longer period, after `decay_steps` instead of staying at the end
        /// rate (Keras's default `false`).
        cycle: bool,
    },
    /// Optional linear warm-up to `warmup_target`, then a cosine from there to `alpha` times it.
    CosineDecay {
        /// The rate at step 0 (where the warm-up starts, if any).
        initial_learning_rate: f64,
        /// Steps of the cosine decay, after the warm-up.
        decay_steps: f64,
        /// The final rate as a fraction of the top rate (Keras's default 0).
        alpha: f64,
        /// The rate reached at the end of the warm-up; `None` for no warm-up (Keras's default).
        warmup_target: Option<f64>,
        /// Steps of the linear warm-up (Keras's default 0).
        warmup_steps: f64,
    },
    /// Cosine decay restarted after `first_decay_steps`, then periods `t_mul` times longer and `m_mul` times lower.
    CosineDecayRestarts {
        /// The rate at step 0 and at the first restart's top.
        initial_learning_rate: f64,
        /// Steps of the first period.
        first_decay_steps: f64,
        /// Each period's length relative to the one before (Keras's default 2).
        t_mul: f64,
        /// Each period's top rate relative to the one before (Keras's default 1).
        m_mul: f64,
        /// The lowest rate as a fraction of `initial_learning_rate` (Keras's default 0).
        alpha: f64,
    },
    /// A schedule of one's own, by the name it was registered under ([`register_schedule`]).
    Custom(&'static str),
}

/// The user's own schedules, by name.
static CUSTOM: Registry<ScheduleFn> = Registry::new();

/// A schedule of one's own: the learning rate at a step.
type ScheduleFn = dyn Fn(u64) -> f64 + Send + Sync;

/// Registers a learning-rate schedule of one's own under `name` (`rate(step)`,
/// step 0 for the first update) and returns it; optimizers using it save and load.
pub fn register_schedule(name: &str, rate: impl Fn(u64) -> f64 + Send + Sync + 'static) -> Schedule {
    Schedule::Custom(CUSTOM.register(name, std::sync::Arc::new(rate)))
}

impl Schedule {
    /// The learning rate at `step` (0 for the first update), as Keras computes it.
    pub fn at(&self, step: u64) -> f32 {
        let step_number = step;
        let step = step as f64;
        let cosine = |fraction: f64, alpha: f64| (1.0 - alpha) * 0.5 * (1.0 + (PI * fraction).cos()) + alpha;
        (match *self {
            Schedule::ExponentialDecay { initial_learning_rate, decay_steps, decay_rate, staircase } => {
                let p = step / decay_steps;
                initial_learning_rate * decay_rate.powf(if staircase { p.floor() } else { p })
            }
            Schedule::InverseTimeDecay { initial_learning_rate, decay_steps, decay_rate, staircase } => {
                let p = step / decay_steps;
                initial_learning_rate / (1.0 + decay_rate * if staircase { p.floor() } else { p })
            }
            Schedule::PiecewiseConstantDecay { ref boundaries, ref values } => {
                let i = boundaries.iter().position(|&b| step <= b).unwrap_or(boundaries.len());
                values[i]
            }
            Schedule::PolynomialDecay { initial_learning_rate, decay_steps, end_learning_rate, power, cycle } => {
                let (step, steps) = if cycle {
                    let multiplier = if step == 0.0 { 1.0 } else { (step / decay_steps).ceil() };
                    (step, decay_steps * multiplier)
                } else {
                    (step.min(decay_steps), decay_steps)
                };
                (initial_learning_rate - end_learning_rate) * (1.0 - step / steps).powf(power) + end_learning_rate
            }
            Schedule::CosineDecay { initial_learning_rate, decay_steps, alpha, warmup_target, warmup_steps } => match warmup_target {
                Some(target) if step < warmup_steps => initial_learning_rate + (target - initial_learning_rate) * step / warmup_steps,
                _ => {
                    let top = warmup_target.unwrap_or(initial_learning_rate);
                    let decayed = (step - warmup_steps).min(decay_steps).max(0.0);
                    top * cosine(decayed / decay_steps, alpha)
                }
            },
            Schedule::CosineDecayRestarts { initial_learning_rate, first_decay_steps, t_mul, m_mul, alpha } => {
                let mut fraction = step / first_decay_steps;
                let restart = if t_mul == 1.0 {
                    fraction.floor()
                } else {
                    ((1.0 - fraction * (1.0 - t_mul)).ln() / t_mul.ln()).floor()
                };
                if t_mul == 1.0 {
                    fraction -= restart;
                } else {
                    let done = (1.0 - t_mul.powf(restart)) / (1.0 - t_mul);
                    fraction = (fraction - done) / t_mul.powf(restart);
                }
                let m = m_mul.powf(restart);
                initial_learning_rate * ((1.0 - alpha) * 0.5 * m * (1.0 + (PI * fraction).cos()) + alpha)
            }
            // `check` refuses an unregistered one before an optimizer uses it.
            Schedule::Custom(name) => CUSTOM.get(name).map_or(0.0, |(_, rate)| rate(step_number)),
        }) as f32
    }

    /// Keras's serialized form (`{"module": "keras.optimizers.schedules", "class_name": ..., "config": ...}`).
    pub fn config(&self) -> Value {
        let (class, config) = match self {
            Schedule::ExponentialDecay { initial_learning_rate, decay_steps, decay_rate, staircase } => {
                ("ExponentialDecay", json!({ "initial_learning_rate": initial_learning_rate, "decay_steps": decay_steps, "decay_rate": decay_rate, "staircase": staircase }))
            }
            Schedule::InverseTimeDecay { initial_learning_rate, decay_steps, decay_rate, staircase } => {
                ("InverseTimeDecay", json!({ "initial_learning_rate": initial_learning_rate, "decay_steps": decay_steps, "decay_rate": decay_rate, "staircase": staircase }))
            }
            Schedule::PiecewiseConstantDecay { boundaries, values } => ("PiecewiseConstantDecay", json!({ "boundaries": boundaries, "values": values })),
            Schedule::PolynomialDecay { initial_learning_rate, decay_steps, end_learning_rate, power, cycle } => (
                "PolynomialDecay",
                json!({ "initial_learning_rate": initial_learning_rate, "decay_steps": decay_steps, "end_learning_rate": end_learning_rate, "power": power, "cycle": cycle }),
            ),
            Schedule::CosineDecay { initial_learning_rate, decay_steps, alpha, warmup_target, warmup_steps } => (
                "CosineDecay",
                json!({ "initial_learning_rate": initial_learning_rate, "decay_steps": decay_steps, "alpha": alpha, "warmup_target": warmup_target, "warmup_steps": warmup_steps }),
            ),
            Schedule::CosineDecayRestarts { initial_learning_rate, first_decay_steps, t_mul, m_mul, alpha } => (
                "CosineDecayRestarts",
                json!({ "initial_learning_rate": initial_learning_rate, "first_decay_steps": first_decay_steps, "t_mul": t_mul, "m_mul": m_mul, "alpha": alpha }),
            ),
            Schedule::Custom(name) => (*name, json!({})),
        };
        json!({ "module": "keras.optimizers.schedules", "class_name": class, "config": config, "registered_name": null })
    }

    /// From Keras's serialized form; fields missing from the config take Keras's defaults.
    pub fn from_config(v: &Value) -> Result<Schedule> {
        let class = v.get("class_name").and_then(|c| c.as_str()).unwrap_or("");
        let cfg = v.get("config").unwrap_or(&Value::Null);
        let bad = |what: String| Error::argument("learning_rate", format!("{class}: {what}"));
        let num = |key: &str, default: Option<f64>| cfg.get(key).and_then(|x| x.as_f64()).or(default).ok_or_else(|| bad(format!("config is missing '{key}'")));
        let flag = |key: &str| cfg.get(key).and_then(|x| x.as_bool()).unwrap_or(false);
        let list = |key: &str| cfg.get(key).and_then(|x| x.as_array()).and_then(|a| a.iter().map(|x| x.as_f64()).collect::<Option<Vec<_>>>()).ok_or_else(|| bad(format!("'{key}' must be a list of numbers")));
        let schedule = match class {
            "ExponentialDecay" => Schedule::ExponentialDecay { initial_learning_rate: num("initial_learning_rate", None)?, decay_steps: num("decay_steps", None)?, decay_rate: num("decay_rate", None)?, staircase: flag("staircase") },
            "InverseTimeDecay" => Schedule::InverseTimeDecay { initial_learning_rate: num("initial_learning_rate", None)?, decay_steps: num("decay_steps", None)?, decay_rate: num("decay_rate", None)?, staircase: flag("staircase") },
            "PiecewiseConstantDecay" => Schedule::PiecewiseConstantDecay { boundaries: list("boundaries")?, values: list("values")? },
            "PolynomialDecay" => Schedule::PolynomialDecay {
                initial_learning_rate: num("initial_learning_rate", None)?,
                decay_steps: num("decay_steps", None)?,
                end_learning_rate: num("end_learning_rate", Some(0.0001))?,
                power: num("power", Some(1.0))?,
                cycle: flag("cycle"),
            },
            "CosineDecay" => Schedule::CosineDecay {
                initial_learning_rate: num("initial_learning_rate", None)?,
                decay_steps: num("decay_steps", None)?,
                alpha: num("alpha", Some(0.0))?,
                warmup_target: cfg.get("warmup_target").and_then(|x| x.as_f64()),
                warmup_steps: num("warmup_steps", Some(0.0))?,
            },
            "CosineDecayRestarts" => Schedule::CosineDecayRestarts {
                initial_learning_rate: num("initial_learning_rate", None)?,
                first_decay_steps: num("first_decay_steps", None)?,
                t_mul: num("t_mul", Some(2.0))?,
                m_mul: num("m_mul", Some(1.0))?,
                alpha: num("alpha", Some(0.0))?,
            },
            other => match CUSTOM.get(other) {
                Some((name, _)) => Schedule::Custom(name),
                None => return Err(Error::argument("learning_rate", format!("unknown schedule '{other}' (known: ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay, PolynomialDecay, CosineDecay, CosineDecayRestarts; your own after strata::optimizers::register_schedule)"))),
            },
        };
        schedule.check()?;
        Ok(schedule)
    }

    /// Refuses schedules that would divide by zero or index past their values.
    pub fn check(&self) -> Result<()> {
        let positive = |name: &str, v: f64| if v > 0.0 && v.is_finite() { Ok(()) } else { Err(Error::argument(name, format!("must be positive, got {v}"))) };
        match self {
            Schedule::ExponentialDecay { decay_steps, .. } | Schedule::InverseTimeDecay { decay_steps, .. } | Schedule::PolynomialDecay { decay_steps, .. } => positive("decay_steps", *decay_steps),
            Schedule::CosineDecay { decay_steps, .. } => positive("decay_steps", *decay_steps),
            Schedule::CosineDecayRestarts { first_decay_steps, t_mul, .. } => positive("first_decay_steps", *first_decay_steps).and(positive("t_mul", *t_mul)),
            Schedule::PiecewiseConstantDecay { boundaries, values } if values.len() != boundaries.len() + 1 => {
                Err(Error::argument("values", format!("needs one more entry than boundaries ({} boundaries, {} values)", boundaries.len(), values.len())))
            }
            Schedule::PiecewiseConstantDecay { .. } => Ok(()),
            Schedule::Custom(name) if CUSTOM.get(name).is_none() => Err(Error::argument("learning_rate", format!("schedule '{name}' is not registered (strata::optimizers::register_schedule)"))),
            Schedule::Custom(_) => Ok(()),
        }
    }
}

/// An optimizer whose learning rate follows a [`Schedule`].
pub struct Scheduled {
    inner: Box<dyn Optimizer>,
    schedule: Schedule,
}

/// Wraps `optimizer` so each update uses `schedule`'s rate for its step.
pub fn with_schedule(mut optimizer: Box<dyn Optimizer>, schedule: Schedule) -> Result<Box<dyn Optimizer>> {
    schedule.check()?;
    optimizer.set_learning_rate(schedule.at(optimizer.iterations()));
    Ok(Box::new(Scheduled { inner: optimizer, schedule }))
}

impl Optimizer for Scheduled {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn apply(&mut self, params: &[Tensor], grads: &Gradients) -> Result<()> {
        self.inner.set_learning_rate(self.schedule.at(self.inner.iterations()));
        self.inner.apply(params, grads)
    }
    fn learning_rate(&self) -> f32 {
        self.schedule.at(self.inner.iterations())
    }
    /// A schedule sets the rate itself: a callback cannot override it (Keras refuses too).
    fn set_learning_rate(&mut self, _lr: f32) {}
    fn config(&self) -> Value {
        let mut c = self.inner.config();
        c["learning_rate"] = self.schedule.config();
        c
    }
    super::delegate_state!();
}
