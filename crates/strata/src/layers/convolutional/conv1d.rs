//! `Conv1D`: convolution over the steps of `(batch, steps, channels)`
//! sequences, computed as a 2-D convolution with a `(1, kernel_size)` window.

use serde_json::{json, Value};
use strata_core::{fmt_shape, ops, Error, Padding, Result, Rng, Tensor};

use super::check_dilation_and_groups;
use super::super::{base_accessors, check_input, kernel_and_bias, make_kernel_and_bias, not_built, Layer, LayerBase, KernelOptions, Weight};
use crate::activations::Activation;
use crate::layers::config as cfg;

/// How a [`Conv1D`] pads the sequence: Keras's `valid`, `same`, or `causal`
/// (zeros before the first step only, so an output never sees later steps).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding1D {
    /// No padding: every window lies inside the sequence (Keras's default).
    Valid,
    /// Zeros on both sides so that `out_steps = ceil(steps / strides)`.
    Same,
    /// `(kernel_size - 1) · dilation_rate` zeros before the first step, none after.
    Causal,
}

impl Padding1D {
    /// Keras's name: `valid`, `same` or `causal`.
    pub fn name(self) -> &'static str {
        match self {
            Padding1D::Valid => "valid",
            Padding1D::Same => "same",
            Padding1D::Causal => "causal",
        }
    }
    /// Parses Keras's name (any case).
    pub fn parse(name: &str) -> Option<Padding1D> {
        [Padding1D::Valid, Padding1D::Same, Padding1D::Causal].into_iter().find(|p| p.name().eq_ignore_ascii_case(name))
    }
}

impl super::super::IntoPadding<Padding1D> for Padding1D {
    fn into_padding(self) -> Result<Padding1D> {
        Ok(self)
    }
}
impl super::super::IntoPadding<Padding1D> for &str {
    fn into_padding(self) -> Result<Padding1D> {
        Padding1D::parse(self).ok_or_else(|| strata_core::Error::argument("padding", format!("unknown padding '{self}' (known: valid, same, causal)")))
    }
}

/// 1-D convolution layer (channels last).
///
/// # Shapes
/// input `(batch, steps, in)`, kernel `(kernel_size, in, filters)`, bias
/// `(filters,)`, output `(batch, out_steps, filters)`.
pub struct Conv1D {
    base: LayerBase,
    filters: usize,
    kernel_size: usize,
    strides: usize,
    padding: Padding1D,
    dilation_rate: usize,
    groups: usize,
    options: KernelOptions,
    built: Option<(Vec<usize>, Tensor, Option<Tensor>)>,
}

impl Conv1D {
    /// `filters` output channels over windows of `kernel_size` steps; Keras's
    /// defaults: strides 1, `valid` padding, no activation, glorot-uniform kernel, zero bias.
    pub fn new(filters: usize, kernel_size: usize) -> Self {
        Conv1D {
            base: LayerBase::new("Conv1D"),
            filters,
            kernel_size,
            strides: 1,
            padding: Padding1D::Valid,
            dilation_rate: 1,
            groups: 1,
            options: KernelOptions::default(),
            built: None,
        }
    }
    /// Step of the window along the sequence (default 1).
    pub fn strides(mut self, strides: usize) -> Self {
        self.strides = strides;
        self
    }
    /// `valid` (default), `same` or `causal`, as a [`Padding1D`] or Keras's name.
    pub fn padding(mut self, padding: impl super::super::IntoPadding<Padding1D>) -> Self {
        if let Some(p) = self.base.keep_error(padding.into_padding()) {
            self.padding = p;
        }
        self
    }
    /// Spacing between the kernel's taps (default 1).
    pub fn dilation_rate(mut self, dilation_rate: usize) -> Self {
        self.dilation_rate = dilation_rate;
        self
    }
    /// Splits the channels into `groups` independent convolutions (default 1).
    pub fn groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }
    super::super::kernel_layer_methods!();
    fn padding_2d(&self) -> Padding {
        if self.padding == Padding1D::Same { Padding::Same } else { Padding::Valid }
    }
}

impl Layer for Conv1D {
    fn class_name(&self) -> &'static str {
        "Conv1D"
    }
    base_accessors!();

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let (k, s) = (self.kernel_size, self.strides);
        if self.filters == 0 || k == 0 || s == 0 {
            return Err(Error::layer(&self.base.name, format!("Conv1D needs positive filters, kernel_size and strides, received filters={}, kernel_size={k}, strides={s}", self.filters)));
        }
        let &[steps, c] = input_shape else {
            return Err(Error::layer(&self.base.name, format!("Conv1D expects inputs of shape (steps, channels), received input_shape={}", fmt_shape(input_shape))));
        };
        check_dilation_and_groups(&self.base.name, (self.dilation_rate, s), self.groups, c, self.filters)?;
        let effective = (k - 1) * self.dilation_rate + 1;
        let padded = if self.padding == Padding1D::Causal { steps + effective - 1 } else { steps };
        let window = strata_core::kernels::window::Window::new([1, 1, padded, c], (1, effective), (1, s), self.padding_2d())
            .ok_or_else(|| Error::layer(&self.base.name, format!("kernel_size={k} does not fit input_shape={} with '{}' padding", fmt_shape(input_shape), self.padding.name())))?;
        let (kernel, bias) = make_kernel_and_bias(&self.base.name, &[k, c / self.groups, self.filters], &self.options, rng)?;
        self.built = Some((input_shape.to_vec(), kernel, bias));
        Ok(vec![window.ow, self.filters])
    }

    fn call(&self, x: &Tensor, _training: bool) -> Result<Tensor> {
        let (shape, kernel, bias) = self.built.as_ref().ok_or_else(|| not_built(self))?;
        check_input(self, x, shape)?;
        let (n, steps, c) = (x.shape()[0] as isize, shape[0] as isize, shape[1] as isize);
        let mut images = x.reshape(&[n, 1, steps, c])?;
        if self.padding == Padding1D::Causal {
            images = images.pad2d((0, 0), (((self.kernel_size - 1) * self.dilation_rate) as isize, 0))?;
        }
        let k4 = kernel.reshape(&[1, self.kernel_size as isize, c / self.groups as isize, self.filters as isize])?.expand_kernel((1, self.dilation_rate), self.groups)?;
        let relu = self.options.activation == Activation::Relu;
        let y = ops::conv2d_fused(&images, &k4, bias.as_ref(), (1, self.strides), self.padding_2d(), relu)?;
        let y = y.reshape(&[n, y.shape()[2] as isize, self.filters as isize])?;
        if relu { Ok(y) } else { self.options.activation.apply(&y) }
    }

    fn weights(&self) -> Vec<Weight> {
        self.built.as_ref().map(|(_, k, b)| kernel_and_bias(k, b.as_ref(), &self.options.weight_options)).unwrap_or_default()
    }

    fn own_config(&self) -> Value {
        let mut config = json!({
            "filters": self.filters,
            "kernel_size": [self.kernel_size],
            "strides": [self.strides],
            "padding": self.padding.name(),
            "data_format": "channels_last",
            "dilation_rate": [self.dilation_rate],
            "groups": self.groups,
        });
        self.options.write_config(&mut config);
        config
    }
}

impl Conv1D {
    /// Reads Keras's config of this layer (`layer.get_config()`); `l` names it in errors.
    pub(crate) fn from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        let dilation = if config.get("dilation_rate").is_some_and(|d| !d.is_null()) { cfg::single_field(l, config, "dilation_rate")? } else { 1 };
        let groups = if config.get("groups").is_some_and(|g| !g.is_null()) { cfg::usize_field(l, config, "groups")? } else { 1 };
        let strides = if config.get("strides").is_some_and(|s| !s.is_null()) { cfg::single_field(l, config, "strides")? } else { 1 };
        let padding = Padding1D::parse(config.get("padding").and_then(|p| p.as_str()).unwrap_or("valid")).ok_or_else(|| cfg::bad(l, "padding", "'valid', 'same' or 'causal'", &config["padding"]))?;
        Ok(Box::new(
            Conv1D::new(cfg::usize_field(l, config, "filters")?, cfg::single_field(l, config, "kernel_size")?)
                .dilation_rate(dilation)
                .groups(groups)
                .strides(strides)
                .padding(padding)
                .kernel_options(cfg::kernel_options_field(l, config)?),
        ))
    }
}
