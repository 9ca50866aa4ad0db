//! `Activation`: applies an activation function as a layer of its own.

use serde_json::{json, Value};
use strata_core::{Result, Rng, Tensor};

use super::super::{base_accessors, check_input, not_built, Layer, LayerBase};
use crate::activations::Activation as Function;
use crate::layers::config as cfg;

/// Applies `function` to its input (Keras's `layers.Activation("relu")`).
pub struct Activation {
    base: LayerBase,
    function: Function,
    built: Option<Vec<usize>>,
}

impl Activation {
    /// The layer applying `function`: a value (`Relu`) or Keras's name
    /// (`"relu"`; an unknown name is reported by `add` or `build`).
    pub fn new(function: impl crate::activations::IntoActivation) -> Self {
        let mut base = LayerBase::new("Activation");
        let function = base.keep_error(function.into_activation()).unwrap_or_default();
        Activation { base, function, built: None }
    }
}

impl Layer for Activation {
    fn passes_mask(&self) -> bool {
        true
    }
    fn class_name(&self) -> &'static str {
        "Activation"
    }
    base_accessors!();
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        self.built = Some(input_shape.to_vec());
        Ok(input_shape.to_vec())
    }
    fn call(&self, x: &Tensor, _training: bool) -> Result<Tensor> {
        check_input(self, x, self.built.as_ref().ok_or_else(|| not_built(self))?)?;
        self.function.apply(x)
    }
    fn own_config(&self) -> Value {
        json!({ "activation": self.function.name() })
    }
}

impl Activation {
    /// Reads Keras's config of this layer (`layer.get_config()`); `l` names it in errors.
    pub(crate) fn from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        Ok(Box::new(Activation::new(cfg::activation_field(l, config)?)))
    }
}
