//! Layers, grouped by family as in Keras (`core`, `convolutional`, `pooling`,
//! `reshaping`, `merging`, ...). Every layer has the same parts: a
//! constructor with Keras's arguments and defaults, `build` (creates named
//! weights once the input shape is known), `call`, `own_config` (its fields of
//! Keras's JSON; the trait adds the header every layer shares) and
//! `from_config` (reads that JSON back; listed in [`registry`]).

pub mod activations;
pub mod attention;
pub(crate) mod config;
pub mod convolutional;
pub mod core;
pub(crate) mod mask;
pub mod merging;
pub mod normalization;
pub mod pooling;
pub mod preprocessing;
mod random;
pub mod recurrent;
pub mod regularization;
pub mod registry;
pub use registry::register_layer;
pub mod reshaping;
mod shared;

use serde_json::Value;
use strata_core::{fmt_shape, Error, Padding, Result, Rng, Tensor};

use crate::regularizers::{Constraint, Regularizer};

pub use self::convolutional::{Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose, Padding1D};
pub use self::attention::MultiHeadAttention;
pub use self::core::{Dense, Embedding, Masking};
pub use self::merging::{Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract};
pub use self::shared::{LayerGuard, LayerRef};
pub use self::activations::{Activation, LeakyReLU, ReLU};
pub use self::normalization::{BatchNormalization, LayerNormalization};
pub use self::pooling::{AveragePooling1D, AveragePooling2D, GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPooling1D, MaxPooling2D};
pub use self::preprocessing::{CenterCrop, MelSpectrogram, Normalization, STFTSpectrogram, RandomBrightness, RandomContrast, RandomCrop, RandomFlip, RandomRotation, RandomTranslation, RandomZoom, Rescaling, Resizing, TextVectorization};
pub use self::recurrent::{Bidirectional, MergeMode, SimpleRNN, TimeDistributed, GRU, LSTM};
pub use self::regularization::{Dropout, GaussianDropout, GaussianNoise};
pub use self::reshaping::{Cropping2D, Flatten, Permute, Reshape, UpSampling2D, ZeroPadding2D};

/// A named weight of a layer (`kernel`, `bias`).
#[derive(Clone, Debug)]
pub struct Weight {
    /// Keras's variable name inside the layer: `kernel`, `bias` (for a model
    /// used as a layer, the path inside it: `dense/kernel`).
    pub name: String,
    /// The values, shared with the layer that owns them.
    pub tensor: Tensor,
    /// Whether the optimizer updates it.
    pub trainable: bool,
    /// A penalty added to the training loss.
    pub regularizer: Option<Regularizer>,
    /// A projection applied after each optimizer update.
    pub constraint: Option<Constraint>,
}

impl Weight {
    /// A weight called `name` without regularizer or constraint.
    pub fn new(name: impl Into<String>, tensor: Tensor, trainable: bool) -> Weight {
        Weight { name: name.into(), tensor, trainable, regularizer: None, constraint: None }
    }
}

/// Regularizers and constraints of a layer's kernel and bias (Keras's
/// `kernel_regularizer=`, `bias_regularizer=`, `kernel_constraint=`, `bias_constraint=`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WeightOptions {
    /// A penalty on the kernel added to the loss (default none).
    pub kernel_regularizer: Option<Regularizer>,
    /// A penalty on the bias added to the loss (default none).
    pub bias_regularizer: Option<Regularizer>,
    /// A projection of the kernel after each update (default none).
    pub kernel_constraint: Option<Constraint>,
    /// A projection of the bias after each update (default none).
    pub bias_constraint: Option<Constraint>,
}

impl WeightOptions {
    /// Adds the four entries to a layer's Keras config (`null` when unset).
    pub fn write_config(&self, config: &mut Value) {
        config["kernel_regularizer"] = self.kernel_regularizer.map(|r| r.config()).unwrap_or(Value::Null);
        config["bias_regularizer"] = self.bias_regularizer.map(|r| r.config()).unwrap_or(Value::Null);
        config["activity_regularizer"] = Value::Null;
        config["kernel_constraint"] = self.kernel_constraint.as_ref().map(|c| c.config()).unwrap_or(Value::Null);
        config["bias_constraint"] = self.bias_constraint.as_ref().map(|c| c.config()).unwrap_or(Value::Null);
    }
}

/// What every layer with a kernel and a bias shares (Dense, Conv1D, Conv2D),
/// with Keras's defaults: no activation, a bias, glorot-uniform kernel, zero bias.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelOptions {
    /// Applied to the output (default `Linear`, none).
    pub activation: crate::activations::Activation,
    /// Whether the layer adds a bias (default true).
    pub use_bias: bool,
    /// How the kernel starts (default glorot uniform).
    pub kernel_initializer: crate::initializers::Initializer,
    /// How the bias starts (default zeros).
    pub bias_initializer: crate::initializers::Initializer,
    /// Regularizers and constraints of the kernel and bias (default none).
    pub weight_options: WeightOptions,
}

impl Default for KernelOptions {
    fn default() -> Self {
        KernelOptions {
            activation: crate::activations::Activation::Linear,
            use_bias: true,
            kernel_initializer: crate::initializers::Initializer::GlorotUniform,
            bias_initializer: crate::initializers::Initializer::Zeros,
            weight_options: WeightOptions::default(),
        }
    }
}

impl KernelOptions {
    /// Adds the options to a layer's Keras config.
    pub fn write_config(&self, config: &mut Value) {
        config["activation"] = self.activation.config();
        config["use_bias"] = Value::from(self.use_bias);
        config["kernel_initializer"] = self.kernel_initializer.config();
        config["bias_initializer"] = self.bias_initializer.config();
        self.weight_options.write_config(config);
    }
}

/// The builder methods of a layer that keeps its [`KernelOptions`] in an `options` field.
macro_rules! kernel_layer_methods {
    () => {
        /// Sets the activation applied to the output (default: none), as a
        /// value (`Relu`) or by Keras's name (`"relu"`; an unknown name is
        /// reported by `add` or `build`, with the known ones).
        pub fn activation(mut self, activation: impl crate::activations::IntoActivation) -> Self {
            if let Some(a) = self.base.keep_error(activation.into_activation()) {
                self.options.activation = a;
            }
            self
        }
        /// Whether to add a bias (default true).
        pub fn use_bias(mut self, use_bias: bool) -> Self {
            self.options.use_bias = use_bias;
            self
        }
        /// Initializer of the kernel (default glorot uniform).
        pub fn kernel_initializer(mut self, init: crate::initializers::Initializer) -> Self {
            self.options.kernel_initializer = init;
            self
        }
        /// Initializer of the bias (default zeros).
        pub fn bias_initializer(mut self, init: crate::initializers::Initializer) -> Self {
            self.options.bias_initializer = init;
            self
        }
        /// A penalty on the kernel added to the loss (Keras's `kernel_regularizer=`).
        pub fn kernel_regularizer(mut self, r: crate::regularizers::Regularizer) -> Self {
            self.options.weight_options.kernel_regularizer = Some(r);
            self
        }
        /// A penalty on the bias added to the loss (Keras's `bias_regularizer=`).
        pub fn bias_regularizer(mut self, r: crate::regularizers::Regularizer) -> Self {
            self.options.weight_options.bias_regularizer = Some(r);
            self
        }
        /// A projection of the kernel after each update (Keras's `kernel_constraint=`).
        pub fn kernel_constraint(mut self, c: crate::regularizers::Constraint) -> Self {
            self.options.weight_options.kernel_constraint = Some(c);
            self
        }
        /// A projection of the bias after each update (Keras's `bias_constraint=`).
        pub fn bias_constraint(mut self, c: crate::regularizers::Constraint) -> Self {
            self.options.weight_options.bias_constraint = Some(c);
            self
        }
        /// All the kernel options at once (as read from a Keras config).
        pub fn kernel_options(mut self, options: crate::layers::KernelOptions) -> Self {
            self.options = options;
            self
        }
    };
}
pub(crate) use kernel_layer_methods;

/// What every layer has: its name and, on a first layer, the declared input shape.
#[derive(Clone, Debug)]
pub struct LayerBase {
    /// The layer's name, unique within its model (`"dense_1"`).
    pub name: String,
    /// The input shape declared with `input_shape` (without the batch axis), if any.
    pub input_shape: Option<Vec<usize>>,
    /// Keras's `trainable`: false freezes the layer's weights (the optimizer
    /// leaves them alone; they count as non-trainable in the summary).
    pub trainable: bool,
    /// An argument given as a string that names nothing (`.activation("rellu")`):
    /// builders cannot fail, so the error waits for `add` or `build`.
    pub invalid: Option<String>,
}

impl LayerBase {
    /// Named after the Keras class (`Conv2D` -> `conv2d`), no declared input shape.
    pub fn new(class_name: &str) -> Self {
        LayerBase { name: default_name(class_name), input_shape: None, trainable: true, invalid: None }
    }
    /// Keeps `value`'s error (the first one) for `add`/`build` to report.
    pub fn keep_error<T>(&mut self, value: Result<T>) -> Option<T> {
        value.map_err(|e| self.invalid.get_or_insert(e.to_string()).clone()).ok()
    }
    /// The argument error kept by [`LayerBase::keep_error`], naming the layer.
    pub fn check(&self) -> Result<()> {
        match &self.invalid {
            Some(e) => Err(Error::layer(&self.name, e.clone())),
            None => Ok(()),
        }
    }
}

/// What a layer's `padding` accepts: the value (`Padding::Same`), or Keras's
/// name of it (`"same"`; an unknown name is reported by `add` or `build`).
pub trait IntoPadding<P> {
    /// The padding, or an error naming the known ones.
    fn into_padding(self) -> Result<P>;
}
impl IntoPadding<Padding> for Padding {
    fn into_padding(self) -> Result<Padding> {
        Ok(self)
    }
}
impl IntoPadding<Padding> for &str {
    fn into_padding(self) -> Result<Padding> {
        Padding::parse(self).ok_or_else(|| Error::argument("padding", format!("unknown padding '{self}' (known: valid, same)")))
    }
}

/// The `base`/`base_mut` methods of a layer that keeps its `LayerBase` in a `base` field.
macro_rules! base_accessors {
    () => {
        fn base(&self) -> &LayerBase {
            &self.base
        }
        fn base_mut(&mut self) -> &mut LayerBase {
            &mut self.base
        }
    };
}

pub(crate) use base_accessors;

/// A building block of a model. Shapes exclude the batch axis.
///
/// Most layers take one tensor and return one: they implement `build` and
/// `call`. A layer with several inputs or outputs (`Add`, `Concatenate`)
/// implements `build_many` and `call_many` instead; models always go
/// through the `_many` forms, whose defaults call the one-tensor forms.
pub trait Layer: Send {
    /// Keras's class name, e.g. `"Conv2D"`.
    fn class_name(&self) -> &'static str;
    /// The name and declared input shape.
    fn base(&self) -> &LayerBase;
    /// The name and declared input shape, to change them.
    fn base_mut(&mut self) -> &mut LayerBase;
    /// The layer's name, unique within its model (`"conv2d_1"`).
    fn name(&self) -> &str {
        &self.base().name
    }
    /// Renames the layer (the model names unnamed layers as Keras does).
    fn set_name(&mut self, name: String) {
        self.base_mut().name = name;
    }
    /// The input shape given by the user (`input_shape=`), if any.
    fn declared_input_shape(&self) -> Option<&[usize]> {
        self.base().input_shape.as_deref()
    }
    /// Keras's `layer.trainable`: whether the optimizer updates the layer's weights.
    fn trainable(&self) -> bool {
        self.base().trainable
    }
    /// Freezes (`false`) or unfreezes the layer's weights, as Keras's
    /// `layer.trainable = False`; takes effect at the next `fit` step.
    fn set_trainable(&mut self, trainable: bool) {
        self.base_mut().trainable = trainable;
    }
    /// Creates the weights for inputs of `input_shape` and returns the output shape.
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>>;
    /// The forward pass on a batch. `training` switches layers such as Dropout.
    fn call(&self, x: &Tensor, training: bool) -> Result<Tensor>;
    /// Creates the weights for inputs of `input_shapes` (one per input) and
    /// returns the output shapes. The default takes exactly one input.
    fn build_many(&mut self, input_shapes: &[Vec<usize>], rng: &mut Rng) -> Result<Vec<Vec<usize>>> {
        match input_shapes {
            [one] => Ok(vec![self.build(one, rng)?]),
            _ => Err(Error::layer(self.name(), format!("{} takes one input, got {}", self.class_name(), input_shapes.len()))),
        }
    }
    /// The forward pass on several inputs, giving several outputs. The
    /// default takes exactly one input.
    fn call_many(&self, inputs: &[Tensor], training: bool) -> Result<Vec<Tensor>> {
        match inputs {
            [x] => Ok(vec![self.call(x, training)?]),
            _ => Err(Error::layer(self.name(), format!("{} takes one input, got {}", self.class_name(), inputs.len()))),
        }
    }
    /// How many tensors `call_many` returns (1 for most layers).
    fn num_outputs(&self) -> usize {
        1
    }
    /// Whether the layer leaves a mask on its first input as it is (Keras's
    /// `supports_masking` with the default `compute_mask`): true for
    /// elementwise and per-step layers (Dense, Dropout, activations). Default
    /// false: the mask stops here, as at a Keras layer that does not support masking.
    fn passes_mask(&self) -> bool {
        false
    }
    /// The masks of the layer's outputs (Keras's `compute_mask`), one per
    /// output: `(batch, steps)` tensors of 0 and 1 (1: the step counts), or
    /// `None`. `masks` has one entry per input. Default: the first input's
    /// mask on every output when [`Layer::passes_mask`], else none.
    fn compute_mask(&self, inputs: &[Tensor], masks: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let _ = inputs;
        let first = masks.first().cloned().flatten().filter(|_| self.passes_mask());
        Ok(vec![first; self.num_outputs()])
    }
    /// [`Layer::call_many`] given the inputs' masks (Keras's `mask=`), for a
    /// call where at least one input has one. Layers that read masks
    /// (recurrent layers, attention, average pooling) override it; the
    /// default does not look at them.
    fn call_masked(&self, inputs: &[Tensor], masks: &[Option<Tensor>], training: bool) -> Result<Vec<Tensor>> {
        let _ = masks;
        self.call_many(inputs, training)
    }
    /// The layer's outputs and their masks, as a model runs it: by default
    /// [`Layer::call_masked`] (or [`Layer::call_many`] when no input has a
    /// mask), then [`Layer::compute_mask`]. A model used as a layer runs its
    /// graph once for both.
    fn call_and_mask(&self, inputs: &[Tensor], masks: &[Option<Tensor>], training: bool) -> Result<(Vec<Tensor>, Vec<Option<Tensor>>)> {
        let outs = match masks.iter().any(Option::is_some) {
            true => self.call_masked(inputs, masks, training)?,
            false => self.call_many(inputs, training)?,
        };
        Ok((outs, self.compute_mask(inputs, masks)?))
    }
    /// The weights, in Keras's order.
    fn weights(&self) -> Vec<Weight> {
        Vec::new()
    }
    /// The layers inside this one, for a model used as a layer (none for others).
    fn sublayers(&self) -> Vec<LayerRef> {
        Vec::new()
    }
    /// Keras's `get_config()` for this layer: the fields every layer has
    /// (name, trainable, dtype), then the layer's own.
    fn config(&self) -> Value {
        let mut config = self.own_config();
        if let Value::Object(fields) = &mut config {
            fields.insert("name".into(), Value::from(self.name()));
            fields.insert("trainable".into(), Value::from(self.trainable()));
            fields.insert("dtype".into(), Value::from("float32"));
        }
        config
    }
    /// The layer's own config fields (Keras's `get_config()` without the
    /// name, trainable and dtype every layer has).
    fn own_config(&self) -> Value;
    /// The states of the random streams the layer draws from while training
    /// (Dropout's masks), by name, so a checkpoint can resume them exactly.
    fn random_streams(&self) -> Vec<(String, [u64; 4])> {
        Vec::new()
    }
    /// Restores streams saved from [`Layer::random_streams`]; unknown names are an error.
    fn set_random_streams(&self, streams: &[(String, [u64; 4])]) -> Result<()> {
        match streams.first() {
            None => Ok(()),
            Some((name, _)) => Err(Error::layer(self.name(), format!("has no random stream '{name}'"))),
        }
    }
    /// Computes the layer's statistics from `data` (Keras's `adapt`:
    /// `Normalization`'s mean and variance); other layers refuse.
    fn adapt(&mut self, data: &Tensor) -> Result<()> {
        let _ = data;
        Err(Error::layer(self.name(), format!("{} has no adapt (only preprocessing layers with statistics do)", self.class_name())))
    }
    /// For a `MaxPooling2D` whose windows tile its input (strides = pool
    /// size, `valid` padding): the pool size, which the layer before may fuse.
    fn tiling_max_pool(&self) -> Option<(usize, usize)> {
        None
    }
    /// Reads the keyword arguments of a Keras call of this layer (an inbound
    /// node's `kwargs` in a model's JSON): sets the options they carry and
    /// returns the names of the tensors among them, which follow the
    /// positional inputs in that order. The default refuses tensors (the
    /// layer would not see them) and ignores the rest (`training`, `mask: null`).
    fn call_kwargs(&mut self, kwargs: &Value) -> Result<Vec<String>> {
        let tensor = |v: &Value| v.get("class_name").and_then(Value::as_str) == Some("__keras_tensor__") || v.as_array().is_some_and(|a| a.iter().any(|x| x.get("class_name").and_then(Value::as_str) == Some("__keras_tensor__")));
        match kwargs.as_object().into_iter().flatten().find(|(_, v)| tensor(v)) {
            Some((name, _)) => Err(Error::layer(self.name(), format!("{} is called with the tensor argument '{name}', which Strata's {} does not take", self.class_name(), self.class_name()))),
            None => Ok(Vec::new()),
        }
    }
    /// How a Keras call of this layer passes `inputs` (as Keras tensors in a
    /// model's JSON): positional and keyword arguments. Default: all positional.
    fn split_call(&self, inputs: Vec<Value>) -> (Vec<Value>, serde_json::Map<String, Value>) {
        (inputs, serde_json::Map::new())
    }
    /// Keras's `build_config` of this layer for its inputs' batch shapes (as
    /// JSON): `{"input_shape": ...}`, or what the layer's own `build` takes.
    fn keras_build_config(&self, mut shapes: Vec<Value>) -> Value {
        let input_shape = if shapes.len() == 1 { shapes.remove(0) } else { Value::Array(shapes) };
        serde_json::json!({ "input_shape": input_shape })
    }
    /// Where Keras 3 keeps each of [`Layer::weights`] in a `.keras` file's
    /// `model.weights.h5`, under the layer's own group: `vars/0`, `vars/1`, ...
    /// by default; a layer built of inner layers says which (`cell/vars/0`).
    fn keras_h5_paths(&self) -> Vec<String> {
        (0..self.weights().len()).map(|i| format!("vars/{i}")).collect()
    }
    /// The layer as a `TextVectorization`, if it is one (the way text enters a model).
    fn text_vectorization(&self) -> Option<&preprocessing::TextVectorization> {
        None
    }
    /// Whether [`Layer::call_max_pooled`] runs (a relu `Conv2D`).
    fn fuses_max_pool(&self) -> bool {
        false
    }
    /// This layer followed by a tiling max pool of `pool`, as one op: the
    /// same values as `call` followed by the pooling layer's `call`.
    fn call_max_pooled(&self, _x: &Tensor, _training: bool, _pool: (usize, usize)) -> Result<Tensor> {
        Err(Error::State(format!("layer '{}' cannot run a max pool fused with it", self.name())))
    }
}

/// Builder methods every layer shares: `Dense::new(10).named("out").input_shape([784])`.
pub trait LayerOptions: Layer + Sized {
    /// Declares the input shape (without the batch axis) on a first layer.
    fn input_shape(mut self, shape: impl Into<Vec<usize>>) -> Self {
        self.base_mut().input_shape = Some(shape.into());
        self
    }
    /// Names the layer (Keras's `name=`).
    fn named(mut self, name: &str) -> Self {
        self.base_mut().name = name.to_string();
        self
    }
}

impl<T: Layer + Sized> LayerOptions for T {}

/// A layer's `kernel` and optional `bias`, as Keras lists them, with their regularizers and constraints.
pub(crate) fn kernel_and_bias(kernel: &Tensor, bias: Option<&Tensor>, options: &WeightOptions) -> Vec<Weight> {
    let mut k = Weight::new("kernel", kernel.clone(), true);
    (k.regularizer, k.constraint) = (options.kernel_regularizer, options.kernel_constraint.clone());
    let mut w = vec![k];
    w.extend(bias.map(|t| Weight { regularizer: options.bias_regularizer, constraint: options.bias_constraint.clone(), ..Weight::new("bias", t.clone(), true) }));
    w
}

/// The most values one weight may hold (1 GiB of f32): a config can declare
/// any size, and a size past this is far more likely a typo than a model.
pub const MAX_WEIGHT_VALUES: usize = 1 << 28;

/// Creates a `kernel` of `shape` and, with `use_bias`, a bias as long as its last axis.
pub(crate) fn make_kernel_and_bias(layer: &str, shape: &[usize], options: &KernelOptions, rng: &mut Rng) -> Result<(Tensor, Option<Tensor>)> {
    make_kernel_and_bias_of(layer, shape, *shape.last().expect("a kernel has an output axis"), options, rng)
}

/// [`make_kernel_and_bias`] with a bias of `units` values (a transposed
/// convolution's kernel ends with its input channels, not its filters).
pub(crate) fn make_kernel_and_bias_of(layer: &str, shape: &[usize], units: usize, options: &KernelOptions, rng: &mut Rng) -> Result<(Tensor, Option<Tensor>)> {
    if shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).is_none_or(|n| n > MAX_WEIGHT_VALUES) {
        return Err(Error::layer(layer, format!("a kernel of shape {} would hold more than {MAX_WEIGHT_VALUES} values (1 GiB), the most one weight may", fmt_shape(shape))));
    }
    options.kernel_initializer.check(shape)?;
    let kernel = Tensor::variable(options.kernel_initializer.sample(shape, rng), shape)?;
    let bias = match options.use_bias {
        true => Some(Tensor::variable(options.bias_initializer.sample(&[units], rng), &[units])?),
        false => None,
    };
    Ok((kernel, bias))
}

/// Snake-case default name for a Keras class: `Conv2D -> conv2d`, `MaxPooling2D -> max_pooling2d`.
pub fn default_name(class_name: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = class_name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev_lower = i > 0 && chars[i - 1].is_ascii_lowercase();
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_ascii_uppercase();
            let prev_digit = i > 0 && chars[i - 1].is_ascii_digit();
            // Keras's to_snake_case: `_` before a capitalised word (`Block2Dense` -> `block2_dense`), and after a lower-case letter.
            if i > 0 && (prev_lower || ((prev_upper || prev_digit) && next_lower)) {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Fails, naming the layer, unless `x` is a batch of `expected`-shaped samples.
pub(crate) fn check_input(layer: &dyn Layer, x: &Tensor, expected: &[usize]) -> Result<()> {
    if x.rank() != expected.len() + 1 || &x.shape()[1..] != expected {
        return Err(Error::layer(layer.name(), format!("{} expected input of shape {}, got {}", layer.class_name(), batch_shape(expected), fmt_shape(x.shape()))));
    }
    Ok(())
}

/// A sample shape with Keras's `None` batch axis in front: `(None, 28, 28, 1)`.
pub(crate) fn batch_shape(sample: &[usize]) -> String {
    let dims: Vec<String> = std::iter::once("None".to_string()).chain(sample.iter().map(|d| d.to_string())).collect();
    format!("({})", dims.join(", "))
}

/// What is most likely wrong with an array of shape `got` given to an input
/// that takes samples of shape `want` (the usual mistakes: no batch axis, no
/// channel axis), as a hint to append to the error.
pub(crate) fn shape_hint(got: &[usize], want: &[usize]) -> String {
    let n = got.first().copied().unwrap_or(0);
    let to = |batch: usize| fmt_shape(&std::iter::once(batch).chain(want.iter().copied()).collect::<Vec<_>>());
    if got == want {
        format!(": it has no batch axis; for one sample, reshape it to {}", to(1))
    } else if got.len() == want.len() && want.last() == Some(&1) && got[1..] == want[..want.len() - 1] {
        format!(": it lacks the channel axis; reshape it to {}", to(n))
    } else if got.len() > 1 && got[1..].iter().product::<usize>() == want.iter().product::<usize>() {
        format!(": its samples have as many values; reshape it to {}", to(n))
    } else {
        String::new()
    }
}

/// Fails, naming the layer, when it is called before `build`.
pub(crate) fn not_built(layer: &dyn Layer) -> Error {
    Error::layer(layer.name(), format!("{} was called before it was built", layer.class_name()))
}

/// A size given as one number or as a pair, like Keras's `kernel_size=3` or `(3, 3)`.
pub trait IntoPair {
    /// `(height, width)`; one number gives both.
    fn into_pair(self) -> (usize, usize);
}
impl IntoPair for usize {
    fn into_pair(self) -> (usize, usize) {
        (self, self)
    }
}
impl IntoPair for (usize, usize) {
    fn into_pair(self) -> (usize, usize) {
        self
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keras_default_names() {
        assert_eq!(super::default_name("Conv2D"), "conv2d");
        assert_eq!(super::default_name("MaxPooling2D"), "max_pooling2d");
        assert_eq!(super::default_name("Dense"), "dense");
        assert_eq!(super::default_name("GlobalAveragePooling2D"), "global_average_pooling2d");
    }
}
