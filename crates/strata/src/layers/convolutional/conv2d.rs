//! `Conv2D`: 2-D convolution over NHWC images, `activation(conv(x, kernel) + bias)`.

use serde_json::{json, Value};
use strata_core::{fmt_shape, ops, Error, Padding, Result, Rng, Tensor};

use super::check_dilation_and_groups;
use super::super::{base_accessors, kernel_and_bias, make_kernel_and_bias, LayerBase, check_input, not_built, IntoPair, Layer, KernelOptions, Weight};
use crate::activations::Activation;
use crate::layers::config as cfg;

/// 2-D convolution layer (channels last, as Keras's default).
///
/// # Shapes
/// input `(batch, height, width, in)`, kernel `(kh, kw, in, filters)`,
/// bias `(filters,)`, output `(batch, out_height, out_width, filters)`.
///
/// ```
/// use strata::prelude::*;
///
/// # fn main() -> strata::Result<()> {
/// let mut model = Sequential::with_seed(0);
/// // `same` padding keeps 8x8; the second layer's `valid` windows with stride 2 give (8 - 3) / 2 + 1 = 3.
/// model.add(Conv2D::new(4, (3, 3)).activation("relu").padding("same").input_shape([8, 8, 1]))?;
/// model.add(Conv2D::new(2, 3).strides(2))?;
/// assert_eq!(model.output_shape(), Some(&[3, 3, 2][..]));
/// assert_eq!(model.count_params(), (3 * 3 * 1 * 4 + 4) + (3 * 3 * 4 * 2 + 2));
///
/// let y = model.predict(&Tensor::zeros(&[2, 8, 8, 1]), 32)?;
/// assert_eq!(y.shape(), [2, 3, 3, 2]);
/// # Ok(()) }
/// ```
pub struct Conv2D {
    base: LayerBase,
    filters: usize,
    kernel_size: (usize, usize),
    strides: (usize, usize),
    padding: Padding,
    dilation_rate: (usize, usize),
    groups: usize,
    options: KernelOptions,
    built: Option<Built>,
}

struct Built {
    input_shape: Vec<usize>,
    kernel: Tensor,
    bias: Option<Tensor>,
}

impl Conv2D {
    /// `filters` output channels, `kernel_size` as `3` or `(3, 3)`; Keras's
    /// defaults: strides 1, `valid` padding, no activation, glorot-uniform
    /// kernel, zero bias.
    pub fn new(filters: usize, kernel_size: impl IntoPair) -> Self {
        Conv2D {
            base: LayerBase::new("Conv2D"),
            filters,
            kernel_size: kernel_size.into_pair(),
            strides: (1, 1),
            padding: Padding::Valid,
            dilation_rate: (1, 1),
            groups: 1,
            options: KernelOptions::default(),
            built: None,
        }
    }
    /// Step of the window (default 1).
    pub fn strides(mut self, strides: impl IntoPair) -> Self {
        self.strides = strides.into_pair();
        self
    }
    /// `Padding::Valid` (default) or `Padding::Same`.
    pub fn padding(mut self, padding: impl super::super::IntoPadding<Padding>) -> Self {
        if let Some(p) = self.base.keep_error(padding.into_padding()) {
            self.padding = p;
        }
        self
    }
    /// Spacing between the kernel's taps (default 1: adjacent pixels).
    pub fn dilation_rate(mut self, dilation_rate: impl IntoPair) -> Self {
        self.dilation_rate = dilation_rate.into_pair();
        self
    }
    /// Splits the channels into `groups` independent convolutions (default 1).
    pub fn groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }
    super::super::kernel_layer_methods!();

    /// The built weights, after checking `x` against the input shape, and
    /// the kernel as the op takes it (dilation and groups expanded).
    fn prepare(&self, x: &Tensor) -> Result<(&Built, Tensor)> {
        let b = self.built.as_ref().ok_or_else(|| not_built(self))?;
        check_input(self, x, &b.input_shape)?;
        Ok((b, b.kernel.expand_kernel(self.dilation_rate, self.groups)?))
    }
}

impl Layer for Conv2D {
    fn class_name(&self) -> &'static str {
        "Conv2D"
    }
    base_accessors!();

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let (kh, kw) = self.kernel_size;
        let (sh, sw) = self.strides;
        if self.filters == 0 || kh == 0 || kw == 0 || sh == 0 || sw == 0 {
            return Err(Error::layer(
                &self.base.name,
                format!("Conv2D needs positive filters, kernel_size and strides, received filters={}, kernel_size={:?}, strides={:?}", self.filters, self.kernel_size, self.strides),
            ));
        }
        let &[h, w, c] = input_shape else {
            return Err(Error::layer(&self.base.name, format!("Conv2D expects inputs of shape (height, width, channels), received input_shape={}", fmt_shape(input_shape))));
        };
        let (dh, dw) = self.dilation_rate;
        check_dilation_and_groups(&self.base.name, (dh.max(dw), sh.max(sw)), self.groups, c, self.filters)?;
        let effective = ((kh - 1) * dh + 1, (kw - 1) * dw + 1);
        let window = strata_core::kernels::window::Window::new([1, h, w, c], effective, self.strides, self.padding).ok_or_else(|| {
            Error::layer(&self.base.name, format!("kernel_size={:?} does not fit input_shape={} with '{}' padding", self.kernel_size, fmt_shape(input_shape), self.padding.name()))
        })?;
        let kshape = [kh, kw, c / self.groups, self.filters];
        let (kernel, bias) = make_kernel_and_bias(&self.base.name, &kshape, &self.options, rng)?;
        self.built = Some(Built { input_shape: input_shape.to_vec(), kernel, bias });
        Ok(vec![window.oh, window.ow, self.filters])
    }

    fn call(&self, x: &Tensor, _training: bool) -> Result<Tensor> {
        let (b, kernel) = self.prepare(x)?;
        // relu is fused into the convolution's output pass.
        let relu = self.options.activation == Activation::Relu;
        let y = ops::conv2d_fused(x, &kernel, b.bias.as_ref(), self.strides, self.padding, relu)?;
        if relu { Ok(y) } else { self.options.activation.apply(&y) }
    }

    fn fuses_max_pool(&self) -> bool {
        self.options.activation == Activation::Relu
    }

    fn call_max_pooled(&self, x: &Tensor, _training: bool, pool: (usize, usize)) -> Result<Tensor> {
        let (b, kernel) = self.prepare(x)?;
        ops::conv2d_relu_max_pool(x, &kernel, b.bias.as_ref(), self.strides, self.padding, pool)
    }

    fn weights(&self) -> Vec<Weight> {
        self.built.as_ref().map(|b| kernel_and_bias(&b.kernel, b.bias.as_ref(), &self.options.weight_options)).unwrap_or_default()
    }

    fn own_config(&self) -> Value {
        let mut config = json!({
            "filters": self.filters,
            "kernel_size": [self.kernel_size.0, self.kernel_size.1],
            "strides": [self.strides.0, self.strides.1],
            "padding": self.padding.name(),
            "data_format": "channels_last",
            "dilation_rate": [self.dilation_rate.0, self.dilation_rate.1],
            "groups": self.groups,
        });
        self.options.write_config(&mut config);
        config
    }
}

impl Conv2D {
    /// Reads Keras's config of this layer (`layer.get_config()`); `l` names it in errors.
    pub(crate) fn from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        let dilation = if config.get("dilation_rate").is_some_and(|d| !d.is_null()) { cfg::pair_field(l, config, "dilation_rate")? } else { (1, 1) };
        let groups = if config.get("groups").is_some_and(|g| !g.is_null()) { cfg::usize_field(l, config, "groups")? } else { 1 };
        Ok(Box::new(
            Conv2D::new(cfg::usize_field(l, config, "filters")?, cfg::pair_field(l, config, "kernel_size")?)
                .dilation_rate(dilation)
                .groups(groups)
                .strides(if config.get("strides").is_some() { cfg::pair_field(l, config, "strides")? } else { (1, 1) })
                .padding(cfg::padding_field(l, config)?)
                .kernel_options(cfg::kernel_options_field(l, config)?),
        ))
    }
}
