//! `UpSampling2D`: enlarges NHWC images by whole factors, repeating rows and
//! columns (`nearest`) or interpolating between them (`bilinear`).

use serde_json::{json, Value};
use strata_core::ops::Interpolation;
use strata_core::{fmt_shape, Error, Result, Rng, Tensor};

use super::super::{base_accessors, check_input, not_built, IntoPair, Layer, LayerBase};
use crate::layers::config as cfg;

/// Upsampling by `size` (rows, columns); Keras's default `(2, 2)`, nearest neighbour.
///
/// # Shapes
/// input `(batch, height, width, channels)`, output `(batch, height * rows, width * cols, channels)`.
pub struct UpSampling2D {
    base: LayerBase,
    size: (usize, usize),
    interpolation: Interpolation,
    built: Option<Vec<usize>>,
}

impl UpSampling2D {
    /// Repeats each row `size.0` times and each column `size.1` times (one number: both).
    pub fn new(size: impl IntoPair) -> Self {
        UpSampling2D { base: LayerBase::new("UpSampling2D"), size: size.into_pair(), interpolation: Interpolation::Nearest, built: None }
    }
}

impl UpSampling2D {
    /// `"nearest"` (default: each pixel repeated) or `"bilinear"` (as
    /// `keras.ops.image.resize`: half-pixel centres); others are refused at build.
    pub fn interpolation(mut self, interpolation: &str) -> Self {
        match Interpolation::parse(interpolation) {
            Some(i) => self.interpolation = i,
            None => {
                self.base.keep_error::<()>(Err(Error::argument("UpSampling2D", format!("interpolation must be 'nearest' or 'bilinear', received interpolation='{interpolation}'"))));
            }
        }
        self
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
        self.base.check()?;
        if self.size.0 == 0 || self.size.1 == 0 {
            return Err(Error::layer(&self.base.name, format!("size must be positive, received size={:?}", self.size)));
        }
        self.built = Some(input_shape.to_vec());
        Ok(vec![h * self.size.0, w * self.size.1, c])
    }
    fn call(&self, x: &Tensor, _training: bool) -> Result<Tensor> {
        let shape = self.built.as_ref().ok_or_else(|| not_built(self))?;
        check_input(self, x, shape)?;
        match self.interpolation {
            Interpolation::Nearest => x.upsample2d(self.size),
            Interpolation::Bilinear => x.resize((shape[0] * self.size.0, shape[1] * self.size.1), Interpolation::Bilinear),
        }
    }
    fn own_config(&self) -> Value {
        json!({ "size": [self.size.0, self.size.1], "data_format": "channels_last", "interpolation": self.interpolation.name() })
    }
}

impl UpSampling2D {
    /// Reads Keras's config of this layer (`layer.get_config()`); `l` names it in errors.
    pub(crate) fn from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        let interpolation = config.get("interpolation").and_then(Value::as_str).unwrap_or("nearest");
        if Interpolation::parse(interpolation).is_none() {
            return Err(cfg::bad(l, "interpolation", "'nearest' or 'bilinear'", &config["interpolation"]));
        }
        Ok(Box::new(UpSampling2D::new(cfg::pair_field(l, config, "size")?).interpolation(interpolation)))
    }
}
