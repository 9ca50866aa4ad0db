//! `Embedding`: integer ids (tokens, classes) to learned vectors.

use serde_json::{json, Value};
use strata_core::{fmt_shape, Error, Result, Rng, Tensor};

use super::super::{base_accessors, not_built, Layer, LayerBase, Weight};
use crate::initializers::Initializer;
use crate::layers::config as cfg;
use crate::layers::mask;
use crate::regularizers::{Constraint, Regularizer};

/// A lookup table of `input_dim` vectors of `output_dim` values (Keras's
/// `Embedding`): id `i` becomes row `i` of the `embeddings` weight.
///
/// # Shapes
/// input: ids of any shape `(batch, ...)` (integers, or floats holding whole
/// numbers), output `(batch, ..., output_dim)`.
///
/// ```
/// use strata::prelude::*;
/// use strata::layers::Embedding;
///
/// # fn main() -> strata::Result<()> {
/// let mut model = Sequential::with_seed(0);
/// model.add(Embedding::new(10, 4).input_shape([3]))?;
/// let ids = Tensor::from_i32(vec![0, 9, 2, 2, 5, 1], &[2, 3])?;
/// assert_eq!(model.predict(&ids, 32)?.shape(), [2, 3, 4]);
/// # Ok(()) }
/// ```
pub struct Embedding {
    base: LayerBase,
    input_dim: usize,
    output_dim: usize,
    initializer: Initializer,
    regularizer: Option<Regularizer>,
    constraint: Option<Constraint>,
    mask_zero: bool,
    built: Option<(Vec<usize>, Tensor)>,
}

impl Embedding {
    /// `input_dim` ids (0 to `input_dim - 1`), each a vector of `output_dim`;
    /// Keras's default initializer: uniform in `[-0.05, 0.05)`.
    pub fn new(input_dim: usize, output_dim: usize) -> Self {
        Embedding {
            base: LayerBase::new("Embedding"),
            input_dim,
            output_dim,
            initializer: Initializer::RandomUniform { min: -0.05, max: 0.05 },
            regularizer: None,
            constraint: None,
            mask_zero: false,
            built: None,
        }
    }
    /// Initializer of the table (default uniform in `[-0.05, 0.05)`).
    pub fn embeddings_initializer(mut self, init: Initializer) -> Self {
        self.initializer = init;
        self
    }
    /// A penalty on the table added to the loss (default none).
    pub fn embeddings_regularizer(mut self, r: Regularizer) -> Self {
        self.regularizer = Some(r);
        self
    }
    /// Id 0 is padding (default false): the output carries a mask, 0 where
    /// the id is 0, which the layers after it that read masks (`LSTM`,
    /// `GlobalAveragePooling1D`, attention, the loss) skip (Keras's `mask_zero`).
    pub fn mask_zero(mut self, on: bool) -> Self {
        self.mask_zero = on;
        self
    }
    /// A projection of the table after each update (default none).
    pub fn embeddings_constraint(mut self, c: Constraint) -> Self {
        self.constraint = Some(c);
        self
    }
}

impl Layer for Embedding {
    fn class_name(&self) -> &'static str {
        "Embedding"
    }
    base_accessors!();
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        if self.input_dim == 0 || self.output_dim == 0 {
            return Err(Error::layer(&self.base.name, format!("Embedding needs positive input_dim and output_dim, received input_dim={}, output_dim={}", self.input_dim, self.output_dim)));
        }
        let shape = [self.input_dim, self.output_dim];
        self.initializer.check(&shape)?;
        let table = Tensor::variable(self.initializer.sample(&shape, rng), &shape)?;
        self.built = Some((input_shape.to_vec(), table));
        Ok(input_shape.iter().copied().chain([self.output_dim]).collect())
    }
    fn call(&self, ids: &Tensor, _training: bool) -> Result<Tensor> {
        let (shape, table) = self.built.as_ref().ok_or_else(|| not_built(self))?;
        if ids.rank() != shape.len() + 1 || &ids.shape()[1..] != shape {
            return Err(Error::layer(&self.base.name, format!("Embedding expected ids of shape {}, got {}", super::super::batch_shape(shape), fmt_shape(ids.shape()))));
        }
        let positions = ids.to_indices().map_err(|e| Error::layer(&self.base.name, format!("ids must be whole numbers from 0 to {}: {e}", self.input_dim - 1)))?;
        if let Some(i) = positions.iter().position(|&p| p >= self.input_dim) {
            return Err(Error::layer(&self.base.name, format!("id {} at position {i} of the batch {} is out of range: input_dim={} allows 0 to {}", positions[i], fmt_shape(ids.shape()), self.input_dim, self.input_dim - 1)));
        }
        table.take(ids, 0)
    }
    fn compute_mask(&self, inputs: &[Tensor], _masks: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        if !self.mask_zero {
            return Ok(vec![None]);
        }
        let ids = &inputs[0];
        Ok(vec![Some(mask::from_bools(&mask::values(ids), ids.shape())?)])
    }
    fn weights(&self) -> Vec<Weight> {
        self.built.as_ref().map(|(_, t)| vec![Weight { name: "embeddings".into(), tensor: t.clone(), trainable: true, regularizer: self.regularizer, constraint: self.constraint.clone() }]).unwrap_or_default()
    }
    fn own_config(&self) -> Value {
        json!({
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": self.initializer.config(),
            "embeddings_regularizer": self.regularizer.map(|r| r.config()),
            "activity_regularizer": null,
            "embeddings_constraint": self.constraint.as_ref().map(|c| c.config()),
            "mask_zero": self.mask_zero,
            "lora_rank": null,
        })
    }
}

impl Embedding {
    /// Reads Keras's config of this layer (`layer.get_config()`); `l` names it in errors.
    pub(crate) fn from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        cfg::require(l, config, "activity_regularizer", &Value::Null)?;
        if config.get("lora_rank").is_some_and(|v| !v.is_null()) {
            return Err(cfg::bad(l, "lora_rank", "null (LoRA is not supported)", &config["lora_rank"]));
        }
        let default = Initializer::RandomUniform { min: -0.05, max: 0.05 };
        let mut layer = Embedding::new(cfg::usize_field(l, config, "input_dim")?, cfg::usize_field(l, config, "output_dim")?)
            .embeddings_initializer(cfg::initializer_field(l, config, "embeddings_initializer", default)?)
            .mask_zero(cfg::bool_field(l, config, "mask_zero", false)?);
        let get = |name: &str| config.get(name).filter(|v| !v.is_null());
        if let Some(r) = get("embeddings_regularizer") {
            layer.regularizer = Some(Regularizer::from_config(r).map_err(|e| Error::layer(l, format!("embeddings_regularizer: {e}")))?);
        }
        if let Some(c) = get("embeddings_constraint") {
            layer.constraint = Some(Constraint::from_config(c).map_err(|e| Error::layer(l, format!("embeddings_constraint: {e}")))?);
        }
        Ok(Box::new(layer))
    }
}
