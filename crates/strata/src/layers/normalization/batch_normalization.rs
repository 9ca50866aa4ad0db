//! `BatchNormalization`: normalises each channel with the batch's statistics
//! in training (and updates moving averages of them), with the moving
//! averages in inference; then scales by `gamma` and shifts by `beta`.

use serde_json::{json, Value};
use strata_core::backend::Update;
use strata_core::{fmt_shape, Error, Result, Rng, Tensor};

use super::super::{base_accessors, check_input, not_built, Layer, LayerBase, Weight};
use crate::layers::config as cfg;

/// Batch normalization over the last axis (channels), Keras's defaults:
/// momentum 0.99, epsilon 0.001, center and scale.
///
/// # Shapes
/// output shape = input shape; `gamma`, `beta`, `moving_mean`, `moving_variance` are `(channels,)`.
pub struct BatchNormalization {
    base: LayerBase,
    momentum: f32,
    epsilon: f32,
    built: Option<Built>,
}

struct Built {
    input_shape: Vec<usize>,
    gamma: Tensor,
    beta: Tensor,
    moving_mean: Tensor,
    moving_variance: Tensor,
}

impl BatchNormalization {
    /// Normalisation over the last (channel) axis with Keras's defaults:
    /// momentum 0.99, epsilon 0.001.
    pub fn new() -> Self {
        BatchNormalization { base: LayerBase::new("BatchNormalization"), momentum: 0.99, epsilon: 1e-3, built: None }
    }
    /// Weight of the old value in the moving averages (default 0.99).
    pub fn momentum(mut self, momentum: f32) -> Self {
        self.momentum = momentum;
        self
    }
    /// Added to the variance (default 0.001).
    pub fn epsilon(mut self, epsilon: f32) -> Self {
        self.epsilon = epsilon;
        self
    }
}

impl Default for BatchNormalization {
    fn default() -> Self {
        BatchNormalization::new()
    }
}

impl BatchNormalization {
    /// The layer's call; in training, `weights [rows, 1]` (a mask's values,
    /// one per row of the flattened input) limit the batch's moments to the
    /// rows they keep, as Keras's masked moments do.
    fn normalize(&self, x: &Tensor, weights: Option<&Tensor>, training: bool) -> Result<Tensor> {
        let b = self.built.as_ref().ok_or_else(|| not_built(self))?;
        check_input(self, x, &b.input_shape)?;
        let c = *b.input_shape.last().expect("built with channels") as isize;
        let flat = x.reshape(&[-1, c])?;
        // A frozen BatchNormalization runs in inference mode, as in Keras 3.
        let (mean, var) = if training && self.base.trainable {
            let (mean, var) = match weights {
                Some(w) => masked_moments(&flat, w, x.shape()[0])?,
                None => moments(&flat, x.shape()[0])?,
            };
            // The one state update of a training call (see ARCHITECTURE.md).
            let average = Update::MovingAverage { momentum: self.momentum };
            b.moving_mean.backend().update(average, &b.moving_mean, &[], &mean)?;
            b.moving_variance.backend().update(average, &b.moving_variance, &[], &var)?;
            (mean, var)
        } else {
            (b.moving_mean.clone(), b.moving_variance.clone())
        };
        let inv = var.add_scalar(self.epsilon).sqrt();
        let y = flat.sub(&mean)?.div(&inv)?.mul(&b.gamma)?.add(&b.beta)?;
        let shape: Vec<isize> = x.shape().iter().map(|&d| d as isize).collect();
        y.reshape(&shape)
    }
}

/// The mean and (biased) variance of each channel of `flat [rows, channels]`
/// from a batch of `batch` samples: over all ranks' batches when this is one
/// rank of several (Keras's `synchronized=True`).
fn moments(flat: &Tensor, batch: usize) -> Result<(Tensor, Tensor)> {
    Ok(match crate::distributed::current() {
        Some(shard) if shard.rows == batch => {
            let count = (flat.shape()[0] / shard.rows.max(1) * shard.global_rows) as f32;
            let mean = shard.sum_across(&flat.sum_axis(0, false)?)?.scale(1.0 / count);
            let var = shard.sum_across(&flat.sub(&mean)?.square().sum_axis(0, false)?)?.scale(1.0 / count);
            (mean, var)
        }
        _ => {
            let mean = flat.mean_axis(0, false)?;
            (mean.clone(), flat.sub(&mean)?.square().mean_axis(0, false)?)
        }
    })
}

/// [`moments`] over the rows `weights [rows, 1]` keep (Keras's masked
/// moments: sums over kept rows divided by their count plus 1e-7).
fn masked_moments(flat: &Tensor, weights: &Tensor, batch: usize) -> Result<(Tensor, Tensor)> {
    let shard = crate::distributed::current().filter(|s| s.rows == batch);
    let across = |t: Tensor| match &shard {
        Some(s) => s.sum_across(&t),
        None => Ok(t),
    };
    let count = across(weights.sum())?.add_scalar(1e-7);
    let mean = across(flat.mul(weights)?.sum_axis(0, false)?)?.div(&count)?;
    let var = across(flat.sub(&mean)?.square().mul(weights)?.sum_axis(0, false)?)?.div(&count)?;
    Ok((mean, var))
}

impl Layer for BatchNormalization {
    fn passes_mask(&self) -> bool {
        true
    }
    fn call_masked(&self, inputs: &[Tensor], masks: &[Option<Tensor>], training: bool) -> Result<Vec<Tensor>> {
        let x = &inputs[0];
        let Some(mask) = masks.first().cloned().flatten().filter(|_| training) else { return self.call_many(inputs, training) };
        // Keras: the batch's moments over the kept steps only; the mask has one axis fewer than the input.
        if x.rank() != 3 || mask.shape() != &x.shape()[..2] {
            return Err(Error::layer(&self.base.name, format!("a mask of shape {} does not mark the (batch, steps) of an input of shape {}", fmt_shape(mask.shape()), fmt_shape(x.shape()))));
        }
        Ok(vec![self.normalize(x, Some(&mask.reshape(&[-1, 1])?), training)?])
    }
    fn class_name(&self) -> &'static str {
        "BatchNormalization"
    }
    base_accessors!();
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let Some(&c) = input_shape.last() else {
            return Err(Error::layer(&self.base.name, "BatchNormalization needs inputs with a channel axis"));
        };
        if !(0.0..1.0).contains(&self.momentum) || self.epsilon <= 0.0 {
            return Err(Error::layer(&self.base.name, format!("received momentum={} (needs [0, 1)), epsilon={} (needs > 0)", self.momentum, self.epsilon)));
        }
        let v = |value: f32| Tensor::variable(vec![value; c], &[c]);
        self.built = Some(Built { input_shape: input_shape.to_vec(), gamma: v(1.0)?, beta: v(0.0)?, moving_mean: Tensor::zeros(&[c]), moving_variance: Tensor::full(&[c], 1.0) });
        Ok(input_shape.to_vec())
    }
    fn call(&self, x: &Tensor, training: bool) -> Result<Tensor> {
        self.normalize(x, None, training)
    }

    fn weights(&self) -> Vec<Weight> {
        let Some(b) = &self.built else { return Vec::new() };
        vec![
            Weight::new("gamma", b.gamma.clone(), true),
            Weight::new("beta", b.beta.clone(), true),
            Weight::new("moving_mean", b.moving_mean.clone(), false),
            Weight::new("moving_variance", b.moving_variance.clone(), false),
        ]
    }
    fn own_config(&self) -> Value {
        json!({ "axis": -1, "momentum": self.momentum, "epsilon": self.epsilon, "center": true, "scale": true })
    }
}

impl BatchNormalization {
    /// Reads Keras's config of this layer (`layer.get_config()`); `l` names it in errors.
    pub(crate) fn from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        let eps = cfg::normalization_epsilon(l, config)?;
        let momentum = config.get("momentum").and_then(|m| m.as_f64()).unwrap_or(0.99) as f32;
        Ok(Box::new(BatchNormalization::new().momentum(momentum).epsilon(eps)))
    }
}
