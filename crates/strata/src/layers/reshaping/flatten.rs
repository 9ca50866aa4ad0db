//! `Flatten`: each sample becomes one vector.

use serde_json::{json, Value};
use strata_core::{Result, Rng, Tensor};

use super::super::{base_accessors, LayerBase, check_input, not_built, Layer};


/// Flattens every axis but the batch axis.
///
/// # Shapes
/// input `(batch, d1, d2, ...)`, output `(batch, d1 * d2 * ...)`.
pub struct Flatten {
    base: LayerBase,
    built: Option<Vec<usize>>,
}

impl Flatten {
    /// A new flatten layer.
    pub fn new() -> Self {
        Flatten { base: LayerBase::new("Flatten"), built: None }
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
    base_accessors!();
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        self.built = Some(input_shape.to_vec());
        Ok(vec![input_shape.iter().product()])
    }
    fn call(&self, x: &Tensor, _training: bool) -> Result<Tensor> {
        let shape = self.built.as_ref().ok_or_else(|| not_built(self))?;
        check_input(self, x, shape)?;
        x.flatten()
    }
    fn own_config(&self) -> Value {
        json!({ "data_format": "channels_last" })
    }
}

impl Flatten {
    /// Reads Keras's config of this layer (`layer.get_config()`); `l` names it in errors.
    pub(crate) fn from_config(_l: &str, _config: &Value) -> Result<Box<dyn Layer>> {
        Ok(Box::new(Flatten::new()))
    }
}
