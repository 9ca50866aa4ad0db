//! `MaxPooling1D` and `AveragePooling1D`: 2-D pooling over `(1, steps)` windows.

use serde_json::{json, Value};
use strata_core::{fmt_shape, Error, Padding, Result, Rng, Tensor};

use super::super::{base_accessors, check_input, not_built, Layer, LayerBase};
use super::pooling2d::Pooling2D;
use crate::layers::config as cfg;

/// 1-D pooling over the steps of `(batch, steps, channels)` sequences: the
/// maximum of each window when `AVG` is false, the mean when true.
///
/// # Shapes
/// input `(batch, steps, channels)`, output `(batch, out_steps, channels)`.
pub struct Pooling1D<const AVG: bool> {
    base: LayerBase,
    pool_size: usize,
    strides: Option<usize>,
    padding: Padding,
    built: Option<(Vec<usize>, Pooling2D<AVG>)>,
}

/// Keras's `MaxPooling1D`.
pub type MaxPooling1D = Pooling1D<false>;
/// Keras's `AveragePooling1D` (padding is not counted in the mean).
pub type AveragePooling1D = Pooling1D<true>;

impl<const AVG: bool> Pooling1D<AVG> {
    const CLASS: &'static str = if AVG { "AveragePooling1D" } else { "MaxPooling1D" };

    /// Windows of `pool_size` steps; Keras's defaults: strides = pool size, `valid` padding.
    pub fn new(pool_size: usize) -> Self {
        Pooling1D { base: LayerBase::new(Self::CLASS), pool_size, strides: None, padding: Padding::Valid, built: None }
    }
    /// Step of the window (default: the pool size).
    pub fn strides(mut self, strides: usize) -> Self {
        self.strides = Some(strides);
        self
    }
    /// `Padding::Valid` (default) or `Padding::Same`.
    pub fn padding(mut self, padding: impl super::super::IntoPadding<Padding>) -> Self {
        if let Some(p) = self.base.keep_error(padding.into_padding()) {
            self.padding = p;
        }
        self
    }
}

impl<const AVG: bool> Layer for Pooling1D<AVG> {
    fn class_name(&self) -> &'static str {
        Self::CLASS
    }
    base_accessors!();

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let &[steps, c] = input_shape else {
            return Err(Error::layer(&self.base.name, format!("{} expects inputs of shape (steps, channels), received input_shape={}", Self::CLASS, fmt_shape(input_shape))));
        };
        let strides = self.strides.unwrap_or(self.pool_size);
        let mut inner = Pooling2D::<AVG>::new((1, self.pool_size)).strides((1, strides)).padding(self.padding);
        inner.set_name(self.base.name.clone());
        let out = inner.build(&[1, steps, c], rng)?;
        self.built = Some((input_shape.to_vec(), inner));
        Ok(out[1..].to_vec())
    }

    fn call(&self, x: &Tensor, training: bool) -> Result<Tensor> {
        let (shape, inner) = self.built.as_ref().ok_or_else(|| not_built(self))?;
        check_input(self, x, shape)?;
        let n = x.shape()[0] as isize;
        let y = inner.call(&x.reshape(&[n, 1, shape[0] as isize, shape[1] as isize])?, training)?;
        let (steps, c) = (y.shape()[2] as isize, y.shape()[3] as isize);
        y.reshape(&[n, steps, c])
    }

    fn own_config(&self) -> Value {
        json!({
            "pool_size": [self.pool_size],
            "strides": [self.strides.unwrap_or(self.pool_size)],
            "padding": self.padding.name(),
            "data_format": "channels_last",
        })
    }
}

impl<const AVG: bool> Pooling1D<AVG> {
    /// Reads Keras's config of this layer (`layer.get_config()`); `l` names it in errors.
    pub(crate) fn from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        let pool = cfg::single_field(l, config, "pool_size")?;
        let strides = if config.get("strides").is_some_and(|s| !s.is_null()) { cfg::single_field(l, config, "strides")? } else { pool };
        Ok(Box::new(Self::new(pool).strides(strides).padding(cfg::padding_field(l, config)?)))
    }
}
