//! `BatchNormalization`: normalises each channel with the batch's statistics
//! in training (and updates moving averages of them), with the moving
//! averages in inference; then scales by `gamma` and shifts by `beta`.

use serde_json::{json, Value};
use strata_core::backend::Update;
use strata_core::{Error, Result, Rng, Tensor};

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

impl Layer for BatchNormalization {
    fn passes_mask(&self) -> bool {
        true
    }
    fn call_masked(&self, inputs: &[Tensor], masks: &[Option<Tensor>], training: bool) -> Result<Vec<Tensor>> {
        if training && masks.first().is_some_and(Option::is_some) {
            return Err(Error::layer(&self.base.name, "BatchNormalization in training on a masked input (Keras's moments over the kept steps only) is not supported yet"));
        }
        self.call_many(inputs, training)
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
        let b = self.built.as_ref().ok_or_else(|| not_built(self))?;
        check_input(self, x, &b.input_shape)?;
        let c = *b.input_shape.last().expect("built with channels") as isize;
        let flat = x.reshape(&[-1, c])?;
        // A frozen BatchNormalization runs in inference mode, as in Keras 3.
        let (mean, var) = if training && self.base.trainable {
            let (mean, var) = match crate::distributed::current() {
                // One rank of several: the global batch's statistics (Keras's synchronized=True).
                Some(shard) if shard.rows == x.shape()[0] => {
                    let count = (flat.shape()[0] / shard.rows.max(1) * shard.global_rows) as f32;
                    let mean = shard.sum_across(&flat.sum_axis(0, false)?)?.scale(1.0 / count);
                    let var = shard.sum_across(&flat.sub(&mean)?.square().sum_axis(0, false)?)?.scale(1.0 / count);
                    (mean, var)
                }
                _ => {
                    let mean = flat.mean_axis(0, false)?;
                    (mean.clone(), flat.sub(&mean)?.square().mean_axis(0, false)?)
                }
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
