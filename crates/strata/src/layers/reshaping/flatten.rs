//! `Flatten`: each sample becomes one vector.

use serde_json::{json, Value};
use strata_core::{Result, Rng, Tensor};

use super::super::{check_input, default_name, not_built, Layer};

/// Flattens every axis but the batch axis.
///
/// # Shapes
/// input `(batch, d1, d2, ...)`, output `(batch, d1 * d2 * ...)`.
pub struct Flatten {
    name: String,
    input_shape: Option<Vec<usize>>,
    built: Option<Vec<usize>>,
}

impl Flatten {
    /// A new flatten layer.
    pub fn new() -> Self {
        Flatten { name: default_name("Flatten"), input_shape: None, built: None }
    }
    /// Declares the input shape on a first layer.
    pub fn input_shape(mut self, shape: impl Into<Vec<usize>>) -> Self {
        self.input_shape = Some(shape.into());
        self
    }
    /// Names the layer.
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }
}

impl Default for Flatten {
    fn default() -> Self {
        Flatten::new()
    }
}

impl Layer for Flatten {
    fn class_name(&self) -> &'static str {
        "Flatten"
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn set_name(&mut self, name: String) {
        self.name = name;
    }
    fn declared_input_shape(&self) -> Option<&[usize]> {
        self.input_shape.as_deref()
    }
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        self.built = Some(input_shape.to_vec());
        Ok(vec![input_shape.iter().product()])
    }
    fn call(&self, x: &Tensor, _training: bool) -> Result<Tensor> {
        let shape = self.built.as_ref().ok_or_else(|| not_built(self))?;
        check_input(self, x, shape)?;
        x.flatten()
    }
    fn config(&self) -> Value {
        json!({ "name": self.name, "trainable": true, "dtype": "float32", "data_format": "channels_last" })
    }
}
