//! `UpSampling2D`: repeats the rows and columns of NHWC images.

use serde_json::{json, Value};
use strata_core::{fmt_shape, Error, Result, Rng, Tensor};

use super::super::{base_accessors, check_input, not_built, IntoPair, Layer, LayerBase};
use crate::layers::config as cfg;

/// Nearest-neighbour upsampling by `size` (rows, columns); Keras's default `(2, 2)`.
///
/// # Shapes
/// input `(batch, height, width, channels)`, output `(batch, height * rows, width * cols, channels)`.
pub struct UpSampling2D {
    base: LayerBase,
    size: (usize, usize),
    built: Option<Vec<usize>>,
}

impl UpSampling2D {
    /// Repeats each row `size.0` times and each column `size.1` times (one number: both).
    pub fn new(size: impl IntoPair) -> Self {
        UpSampling2D { base: LayerBase::new("UpSampling2D"), size: size.into_pair(), built: None }
    }
}

impl Default for UpSampling2D {
    fn default() -> Self {
        Self::new(2)
    }
}

impl Layer for UpSampling2D {
    fn class_name(&self) -> &'static str {
        "UpSampling2D"
    }
    base_accessors!();
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let &[h, w, c] = input_shape else {
            return Err(Error::layer(&self.base.name, format!("UpSampling2D expects inputs of shape (height, width, channels), received input_shape={}", fmt_shape(input_shape))));
        };
        if self.size.0 == 0 || self.size.1 == 0 {
            return Err(Error::layer(&self.base.name, format!("size must be positive, received size={:?}", self.size)));
        }
        self.built = Some(input_shape.to_vec());
        Ok(vec![h * self.size.0, w * self.size.1, c])
    }
    fn call(&self, x: &Tensor, _training: bool) -> Result<Tensor> {
        let shape = self.built.as_ref().ok_or_else(|| not_built(self))?;
        check_input(self, x, shape)?;
        x.upsample2d(self.size)
    }
    fn own_config(&self) -> Value {
        json!({ "size": [self.size.0, self.size.1], "data_format": "channels_last", "interpolation": "nearest" })
    }
}

impl UpSampling2D {
    /// Reads Keras's config of this layer (`layer.get_config()`); `l` names it in errors.
    pub(crate) fn from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        cfg::require(l, config, "interpolation", &Value::from("nearest"))?;
        Ok(Box::new(UpSampling2D::new(cfg::pair_field(l, config, "size")?)))
    }
}
