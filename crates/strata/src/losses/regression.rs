//! Regression losses: errors between real-valued targets and predictions,
//! averaged over the last axis, as Keras defines them.

use serde_json::{json, Value};
use strata_core::{Result, Tensor};

use super::{same_shape, Loss, EPSILON};

/// Declares a parameterless loss `$ty` named `$name` whose per-sample value is `$body`.
macro_rules! simple_loss {
    ($(#[$doc:meta])* $ty:ident, $name:literal, |$t:ident, $p:ident| $body:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default)]
        pub struct $ty;

        impl Loss for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn per_sample(&self, $t: &Tensor, $p: &Tensor) -> Result<Tensor> {
                same_shape(self.name(), $t, $p)?;
                $body
            }
            fn config(&self) -> Value {
                json!({ "name": $name, "reduction": "sum_over_batch_size" })
            }
        }
    };
}

pub(crate) use simple_loss;

simple_loss!(
    /// `mean(|y_true - y_pred|)`.
    MeanAbsoluteError, "mean_absolute_error", |t, p| p.sub(t)?.abs().mean_axis(-1, false)
);

simple_loss!(
    /// `100 · mean(|(y_true - y_pred) / max(|y_true|, ε)|)`.
    MeanAbsolutePercentageError, "mean_absolute_percentage_error",
    |t, p| Ok(t.sub(p)?.div(&t.abs().clip(EPSILON, f32::MAX))?.abs().mean_axis(-1, false)?.scale(100.0))
);

simple_loss!(
    /// `mean((log(max(y_pred, ε) + 1) - log(max(y_true, ε) + 1))²)`.
    MeanSquaredLogarithmicError, "mean_squared_logarithmic_error",
    |t, p| {
        let log1 = |x: &Tensor| x.clip(EPSILON, f32::MAX).add_scalar(1.0).log();
        log1(p).sub(&log1(t))?.square().mean_axis(-1, false)
    }
);

simple_loss!(
    /// `mean(log(cosh(y_pred - y_true)))`.
    LogCosh, "log_cosh", |t, p| p.sub(t)?.log_cosh().mean_axis(-1, false)
);

/// Quadratic for errors up to `delta`, linear beyond: `mean(0.5 q² + δ (|e| - q))`
/// with `q = min(|e|, δ)`, which is Keras's `where(|e| <= δ, 0.5 e², δ|e| - 0.5δ²)`.
#[derive(Clone, Copy, Debug)]
pub struct Huber {
    /// Where the loss turns from quadratic to linear (Keras's default 1).
    pub delta: f32,
}

impl Default for Huber {
    /// Keras's default `delta = 1.0`.
    fn default() -> Self {
        Huber { delta: 1.0 }
    }
}

impl Loss for Huber {
    fn name(&self) -> &'static str {
        "huber"
    }
    fn per_sample(&self, t: &Tensor, p: &Tensor) -> Result<Tensor> {
        same_shape(self.name(), t, p)?;
        let a = p.sub(t)?.abs();
        let q = a.clip(0.0, self.delta);
        q.square().scale(0.5).add(&a.sub(&q)?.scale(self.delta))?.mean_axis(-1, false)
    }
    fn config(&self) -> Value {
        json!({ "name": "huber", "reduction": "sum_over_batch_size", "delta": self.delta })
    }
}
