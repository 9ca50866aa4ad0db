//! Hinge losses for maximum-margin classification, as Keras defines them.
//! Labels of 0 and 1 are taken as -1 and 1.

use serde_json::{json, Value};
use strata_core::{Result, Tensor};

use super::regression::simple_loss;
use super::{same_shape, Loss};

/// Keras's `convert_binary_labels_to_hinge`: labels all in {0, 1} become {-1, 1}.
fn signed(t: &Tensor) -> Tensor {
    let binary = t.data().iter().all(|&v| v == 0.0 || v == 1.0);
    if binary { t.scale(2.0).add_scalar(-1.0) } else { t.clone() }
}

simple_loss!(
    /// `mean(max(1 - y_true · y_pred, 0))`.
    Hinge, "hinge", |t, p| Tensor::scalar(1.0).sub(&signed(t).mul(p)?)?.relu().mean_axis(-1, false)
);

simple_loss!(
    /// `mean(max(1 - y_true · y_pred, 0)²)`.
    SquaredHinge, "squared_hinge", |t, p| Tensor::scalar(1.0).sub(&signed(t).mul(p)?)?.relu().square().mean_axis(-1, false)
);

simple_loss!(
    /// `max(max((1 - y_true) · y_pred) - Σ y_true · y_pred + 1, 0)` for one-hot targets.
    CategoricalHinge, "categorical_hinge",
    |t, p| {
        let pos = t.mul(p)?.sum_axis(-1, false)?;
        let neg = Tensor::scalar(1.0).sub(t)?.mul(p)?.max_axis(-1, false)?;
        Ok(neg.sub(&pos)?.add_scalar(1.0).relu())
    }
);
