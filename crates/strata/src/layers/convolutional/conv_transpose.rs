//! `Conv2DTranspose` and `Conv1DTranspose`: transposed ("deconvolution")
//! layers, the convolution's input gradient as a layer. They upsample:
//! stride 2 doubles the height and width.

use serde_json::{json, Value};
use strata_core::{fmt_shape, ops, Error, Padding, Result, Rng, Tensor};

use super::check_dilation_and_groups;
use super::super::{check_input, kernel_and_bias, make_kernel_and_bias_of, not_built, IntoPair, KernelOptions, Layer, LayerBase, Weight};
use crate::layers::config as cfg;

/// What both layers share, on (height, width) pairs: `Conv1DTranspose` is a
/// one-row `Conv2DTranspose`.
struct Transpose {
    base: LayerBase,
    filters: usize,
    kernel_size: (usize, usize),
    strides: (usize, usize),
    padding: Padding,
    output_padding: Option<(usize, usize)>,
    dilation_rate: (usize, usize),
    options: KernelOptions,
    /// Input shape, kernel (Keras's layout), bias.
    built: Option<(Vec<usize>, Tensor, Option<Tensor>)>,
}

impl Transpose {
    fn new(class: &'static str, filters: usize, kernel_size: (usize, usize)) -> Transpose {
        Transpose {
            base: LayerBase::new(class),
            filters,
            kernel_size,
            strides: (1, 1),
            padding: Padding::Valid,
            output_padding: None,
            dilation_rate: (1, 1),
            options: KernelOptions::default(),
            built: None,
        }
    }

    /// Checks the arguments against `(h, w, c)` and creates the weights
    /// (`kernel_shape`: Keras's layout) for inputs of `input_shape`; returns
    /// the output `(height, width)`.
    fn build(&mut self, class: &str, input_shape: &[usize], (h, w, c): (usize, usize, usize), kernel_shape: &[usize], rng: &mut Rng) -> Result<(usize, usize)> {
        let ((kh, kw), (sh, sw), (dh, dw)) = (self.kernel_size, self.strides, self.dilation_rate);
        let name = &self.base.name;
        if self.filters == 0 || kh == 0 || kw == 0 || sh == 0 || sw == 0 {
            return Err(Error::layer(name, format!("{class} needs positive filters, kernel_size and strides, received filters={}, kernel_size={:?}, strides={:?}", self.filters, self.kernel_size, self.strides)));
        }
        check_dilation_and_groups(name, (dh.max(dw), sh.max(sw)), 1, c, self.filters)?;
        if let Some((oh, ow)) = self.output_padding {
            if oh >= sh || ow >= sw {
                return Err(Error::layer(name, format!("{class}: strides must be greater than output padding, received strides={:?}, output_padding={:?}", self.strides, (oh, ow))));
            }
        }
        let (eh, ew) = ((kh - 1) * dh + 1, (kw - 1) * dw + 1);
        let window = ops::conv2d_transpose_window([1, h, w], (eh, ew, self.filters), self.strides, self.padding, self.output_padding);
        let Some(g) = window.filter(|_| h > 0 && w > 0) else {
            return Err(Error::layer(
                name,
                format!("{class}: input of {h}x{w} has no output of Keras's size with kernel_size={:?}, strides={:?}, '{}' padding and output_padding={:?} (TensorFlow refuses it too)", self.kernel_size, self.strides, self.padding.name(), self.output_padding),
            ));
        };
        let out = (g.h, g.w);
        let (kernel, bias) = make_kernel_and_bias_of(name, kernel_shape, self.filters, &self.options, rng)?;
        self.built = Some((input_shape.to_vec(), kernel, bias));
        Ok(out)
    }

    /// `x` as images `[n, h, w, c]` through the layer, with the kernel read as `(kh, kw, filters, c)`.
    fn call(&self, layer: &dyn Layer, images: &Tensor, kernel: &Tensor) -> Result<Tensor> {
        let bias = self.built.as_ref().ok_or_else(|| not_built(layer))?.2.as_ref();
        let kernel = kernel.expand_kernel(self.dilation_rate, 1)?;
        let y = ops::conv2d_transpose(images, &kernel, bias, self.strides, self.padding, self.output_padding)?;
        self.options.activation.apply(&y)
    }

    fn weights(&self) -> Vec<Weight> {
        self.built.as_ref().map(|(_, k, b)| kernel_and_bias(k, b.as_ref(), &self.options.weight_options)).unwrap_or_default()
    }

    /// Keras's config; `pair` writes one (height, width) pair as the layer's rank does.
    fn config(&self, pair: impl Fn((usize, usize)) -> Value) -> Value {
        let mut config = json!({
            "filters": self.filters,
            "kernel_size": pair(self.kernel_size),
            "strides": pair(self.strides),
            "padding": self.padding.name(),
            "output_padding": self.output_padding.map(&pair),
            "data_format": "channels_last",
            "dilation_rate": pair(self.dilation_rate),
        });
        self.options.write_config(&mut config);
        config
    }

    /// Reads the fields both layers share; `pair` reads one of the layer's rank.
    fn from_config(mut self, l: &str, config: &Value, pair: impl Fn(&str) -> Result<(usize, usize)>) -> Result<Transpose> {
        let present = |f: &str| config.get(f).is_some_and(|v| !v.is_null());
        if present("strides") {
            self.strides = pair("strides")?;
        }
        if present("dilation_rate") {
            self.dilation_rate = pair("dilation_rate")?;
        }
        if present("output_padding") {
            self.output_padding = Some(pair("output_padding")?);
        }
        self.padding = cfg::padding_field(l, config)?;
        self.options = cfg::kernel_options_field(l, config)?;
        Ok(self)
    }
}

macro_rules! transpose_methods {
    ($pair:ty, $into:expr, $into_padding:expr) => {
        /// Step of the window (default 1): the output is `strides` times larger.
        pub fn strides(mut self, strides: $pair) -> Self {
            self.0.strides = $into(strides);
            self
        }
        /// `valid` (default) or `same` padding.
        pub fn padding(mut self, padding: impl super::super::IntoPadding<Padding>) -> Self {
            if let Some(p) = self.0.base.keep_error(padding.into_padding()) {
                self.0.padding = p;
            }
            self
        }
        /// Extra rows (and columns) at the end of the output, each less than
        /// the stride (default: Keras's size rule without it).
        pub fn output_padding(mut self, output_padding: $pair) -> Self {
            self.0.output_padding = Some($into_padding(output_padding));
            self
        }
        /// Spacing between the kernel's taps (default 1).
        pub fn dilation_rate(mut self, dilation_rate: $pair) -> Self {
            self.0.dilation_rate = $into(dilation_rate);
            self
        }
        /// Sets the activation applied to the output (default: none), as a value or by Keras's name.
        pub fn activation(mut self, activation: impl crate::activations::IntoActivation) -> Self {
            if let Some(a) = self.0.base.keep_error(activation.into_activation()) {
                self.0.options.activation = a;
            }
            self
        }
        /// Whether to add a bias (default true).
        pub fn use_bias(mut self, use_bias: bool) -> Self {
            self.0.options.use_bias = use_bias;
            self
        }
        /// The kernel's and bias's initializers, regularizers and constraints and the activation at once.
        pub fn kernel_options(mut self, options: KernelOptions) -> Self {
            self.0.options = options;
            self
        }
    };
}

/// Transposed 2-D convolution (Keras's `Conv2DTranspose`, channels last).
///
/// # Shapes
/// input `(batch, h, w, in)`, kernel `(kh, kw, filters, in)` (Keras's
/// layout), bias `(filters,)`, output `(batch, out_h, out_w, filters)` with
/// `out = h * s + max(k - s, 0)` (`valid`) or `h * s` (`same`), or, with
/// `output_padding`, `(h - 1) * s + k - 2 * pad + output_padding`.
///
/// ```
/// use strata::prelude::*;
///
/// # fn main() -> strata::Result<()> {
/// let mut model = Sequential::with_seed(0);
/// model.add(Conv2DTranspose::new(8, 4).strides(2).padding("same").input_shape([7, 7, 16]))?;
/// assert_eq!(model.output_shape(), Some(&[14, 14, 8][..]));
/// # Ok(()) }
/// ```
pub struct Conv2DTranspose(Transpose);

impl Conv2DTranspose {
    /// `filters` output channels, `kernel_size` as `3` or `(3, 3)`; Keras's
    /// defaults: strides 1, `valid`, no output padding, no activation.
    pub fn new(filters: usize, kernel_size: impl IntoPair) -> Self {
        Conv2DTranspose(Transpose::new("Conv2DTranspose", filters, kernel_size.into_pair()))
    }
    transpose_methods!(impl IntoPair, IntoPair::into_pair, IntoPair::into_pair);
}

impl Layer for Conv2DTranspose {
    fn class_name(&self) -> &'static str {
        "Conv2DTranspose"
    }
    fn base(&self) -> &LayerBase {
        &self.0.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.0.base
    }
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let &[h, w, c] = input_shape else {
            return Err(Error::layer(&self.0.base.name, format!("Conv2DTranspose expects inputs of shape (height, width, channels), received input_shape={}", fmt_shape(input_shape))));
        };
        let (kh, kw) = self.0.kernel_size;
        let (oh, ow) = self.0.build("Conv2DTranspose", input_shape, (h, w, c), &[kh, kw, self.0.filters, c], rng)?;
        Ok(vec![oh, ow, self.0.filters])
    }
    fn call(&self, x: &Tensor, _training: bool) -> Result<Tensor> {
        let (shape, kernel, _) = self.0.built.as_ref().ok_or_else(|| not_built(self))?;
        check_input(self, x, shape)?;
        self.0.call(self, x, kernel)
    }
    fn weights(&self) -> Vec<Weight> {
        self.0.weights()
    }
    fn own_config(&self) -> Value {
        self.0.config(|(a, b)| json!([a, b]))
    }
}

impl Conv2DTranspose {
    /// Reads Keras's config of this layer (`layer.get_config()`); `l` names it in errors.
    pub(crate) fn from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        let layer = Conv2DTranspose::new(cfg::usize_field(l, config, "filters")?, cfg::pair_field(l, config, "kernel_size")?);
        Ok(Box::new(Conv2DTranspose(layer.0.from_config(l, config, |f| cfg::pair_field(l, config, f))?)))
    }
}

/// Transposed 1-D convolution (Keras's `Conv1DTranspose`, channels last).
///
/// # Shapes
/// input `(batch, steps, in)`, kernel `(k, filters, in)`, bias `(filters,)`,
/// output `(batch, out_steps, filters)`, sized as [`Conv2DTranspose`]'s.
pub struct Conv1DTranspose(Transpose);

impl Conv1DTranspose {
    /// `filters` output channels and a window of `kernel_size` steps; Keras's defaults as [`Conv2DTranspose`]'s.
    pub fn new(filters: usize, kernel_size: usize) -> Self {
        Conv1DTranspose(Transpose::new("Conv1DTranspose", filters, (1, kernel_size)))
    }
    transpose_methods!(usize, |s: usize| (1, s), |p: usize| (0, p));
}

impl Layer for Conv1DTranspose {
    fn class_name(&self) -> &'static str {
        "Conv1DTranspose"
    }
    fn base(&self) -> &LayerBase {
        &self.0.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.0.base
    }
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let &[steps, c] = input_shape else {
            return Err(Error::layer(&self.0.base.name, format!("Conv1DTranspose expects inputs of shape (steps, channels), received input_shape={}", fmt_shape(input_shape))));
        };
        let (_, out) = self.0.build("Conv1DTranspose", input_shape, (1, steps, c), &[self.0.kernel_size.1, self.0.filters, c], rng)?;
        Ok(vec![out, self.0.filters])
    }
    fn call(&self, x: &Tensor, _training: bool) -> Result<Tensor> {
        let (shape, kernel, _) = self.0.built.as_ref().ok_or_else(|| not_built(self))?;
        check_input(self, x, shape)?;
        let (n, steps, c, k, f) = (x.shape()[0] as isize, shape[0] as isize, shape[1] as isize, self.0.kernel_size.1 as isize, self.0.filters as isize);
        let y = self.0.call(self, &x.reshape(&[n, 1, steps, c])?, &kernel.reshape(&[1, k, f, c])?)?;
        y.reshape(&[n, y.shape()[2] as isize, f])
    }
    fn weights(&self) -> Vec<Weight> {
        self.0.weights()
    }
    fn own_config(&self) -> Value {
        self.0.config(|(_, b)| json!([b]))
    }
}

impl Conv1DTranspose {
    /// Reads Keras's config of this layer (`layer.get_config()`); `l` names it in errors.
    pub(crate) fn from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        let layer = Conv1DTranspose::new(cfg::usize_field(l, config, "filters")?, cfg::single_field(l, config, "kernel_size")?);
        let op = config.get("output_padding").is_some_and(|v| !v.is_null());
        let read = |f: &str| cfg::single_field(l, config, f).map(|v| if f == "output_padding" && op { (0, v) } else { (1, v) });
        Ok(Box::new(Conv1DTranspose(layer.0.from_config(l, config, read)?)))
    }
}
