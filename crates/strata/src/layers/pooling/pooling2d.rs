//! `MaxPooling2D` and `AveragePooling2D`: the maximum or the mean of each
//! window of an NHWC image.

use serde_json::{json, Value};
use strata_core::{fmt_shape, ops, Error, Padding, Result, Rng, Tensor};

use super::super::{base_accessors, LayerBase, check_input, not_built, IntoPair, Layer};
use crate::layers::config as cfg;

/// 2-D pooling (channels last): the maximum of each window when `AVG` is
/// false ([`MaxPooling2D`]), the mean when true ([`AveragePooling2D`]).
///
/// # Shapes
/// input `(batch, height, width, channels)`, output `(batch, out_height, out_width, channels)`.
pub struct Pooling2D<const AVG: bool> {
    base: LayerBase,
    pool_size: (usize, usize),
    strides: Option<(usize, usize)>,
    padding: Padding,
    built: Option<Vec<usize>>,
}

/// Keras's `MaxPooling2D`.
pub type MaxPooling2D = Pooling2D<false>;
/// Keras's `AveragePooling2D` (padding is not counted in the mean).
pub type AveragePooling2D = Pooling2D<true>;

impl<const AVG: bool> Pooling2D<AVG> {
    const CLASS: &'static str = if AVG { "AveragePooling2D" } else { "MaxPooling2D" };

    /// Windows of `pool_size` (`2` or `(2, 2)`); Keras's defaults: strides =
    /// pool size, `valid` padding.
    pub fn new(pool_size: impl IntoPair) -> Self {
        Pooling2D {
            base: LayerBase::new(Self::CLASS),
            pool_size: pool_size.into_pair(),
            strides: None,
            padding: Padding::Valid,
            built: None,
        }
    }
    /// Step of the window (default: the pool size).
    pub fn strides(mut self, strides: impl IntoPair) -> Self {
        self.strides = Some(strides.into_pair());
        self
    }
    /// `Padding::Valid` (default) or `Padding::Same`.
    pub fn padding(mut self, padding: impl super::super::IntoPadding<Padding>) -> Self {
        if let Some(p) = self.base.keep_error(padding.into_padding()) {
            self.padding = p;
        }
        self
    }
    fn effective_strides(&self) -> (usize, usize) {
        self.strides.unwrap_or(self.pool_size)
    }
}

impl<const AVG: bool> Layer for Pooling2D<AVG> {
    fn class_name(&self) -> &'static str {
        Self::CLASS
    }
    base_accessors!();

    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let (p, s) = (self.pool_size, self.effective_strides());
        if p.0 == 0 || p.1 == 0 || s.0 == 0 || s.1 == 0 {
            return Err(Error::layer(&self.base.name, format!("{} needs positive pool_size and strides, received pool_size={p:?}, strides={s:?}", Self::CLASS)));
        }
        let &[h, w, c] = input_shape else {
            return Err(Error::layer(&self.base.name, format!("{} expects inputs of shape (height, width, channels), received input_shape={}", Self::CLASS, fmt_shape(input_shape))));
        };
        let window = strata_core::kernels::window::Window::new([1, h, w, c], p, s, self.padding).ok_or_else(|| {
            Error::layer(&self.base.name, format!("pool_size={p:?} does not fit input_shape={} with '{}' padding", fmt_shape(input_shape), self.padding.name()))
        })?;
        self.built = Some(input_shape.to_vec());
        Ok(vec![window.oh, window.ow, c])
    }

    fn call(&self, x: &Tensor, _training: bool) -> Result<Tensor> {
        let shape = self.built.as_ref().ok_or_else(|| not_built(self))?;
        check_input(self, x, shape)?;
        if AVG {
            ops::avg_pool2d(x, self.pool_size, self.effective_strides(), self.padding)
        } else {
            ops::max_pool2d(x, self.pool_size, self.effective_strides(), self.padding)
        }
    }

    fn tiling_max_pool(&self) -> Option<(usize, usize)> {
        (!AVG && self.effective_strides() == self.pool_size && self.padding == Padding::Valid).then_some(self.pool_size)
    }

    fn own_config(&self) -> Value {
        let s = self.effective_strides();
        json!({
            "pool_size": [self.pool_size.0, self.pool_size.1],
            "strides": [s.0, s.1],
            "padding": self.padding.name(),
            "data_format": "channels_last",
        })
    }
}

impl<const AVG: bool> Pooling2D<AVG> {
    /// Reads Keras's config of this layer (`layer.get_config()`); `l` names it in errors.
    pub(crate) fn from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        let pool = cfg::pair_field(l, config, "pool_size")?;
        let strides = if config.get("strides").is_some_and(|s| !s.is_null()) { cfg::pair_field(l, config, "strides")? } else { pool };
        Ok(Box::new(Self::new(pool).strides(strides).padding(cfg::padding_field(l, config)?)))
    }
}
