//! `Dense`: the fully connected layer `y = activation(x · kernel + bias)`.

use serde_json::{json, Value};
use strata_core::{ops, Error, Result, Rng, Tensor};

use super::super::{base_accessors, kernel_and_bias, make_kernel_and_bias, LayerBase, check_input, not_built, Layer, Weight, WeightOptions};
use crate::activations::Activation;
use crate::initializers::Initializer;

/// Fully connected layer.
///
/// # Shapes
/// input `(batch, ..., in)`, kernel `(in, units)`, bias `(units,)`, output `(batch, ..., units)`.
pub struct Dense {
    base: LayerBase,
    units: usize,
    activation: Activation,
    use_bias: bool,
    kernel_initializer: Initializer,
    bias_initializer: Initializer,
    weight_options: WeightOptions,
    built: Option<Built>,
}

struct Built {
    input_shape: Vec<usize>,
    kernel: Tensor,
    bias: Option<Tensor>,
}

impl Dense {
    /// A layer of `units` outputs with Keras's defaults: no activation,
    /// glorot-uniform kernel, zero bias.
    pub fn new(units: usize) -> Self {
        Dense {
            base: LayerBase::new("Dense"),
            units,
            activation: Activation::Linear,
            use_bias: true,
            kernel_initializer: Initializer::GlorotUniform,
            bias_initializer: Initializer::Zeros,
            weight_options: WeightOptions::default(),
            built: None,
        }
    }
    /// Sets the activation applied to the output.
    pub fn activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }
    /// Whether to add a bias (default true).
    pub fn use_bias(mut self, use_bias: bool) -> Self {
        self.use_bias = use_bias;
        self
    }
    /// Initializer of the kernel (default glorot uniform).
    pub fn kernel_initializer(mut self, init: Initializer) -> Self {
        self.kernel_initializer = init;
        self
    }
    /// Initializer of the bias (default zeros).
    pub fn bias_initializer(mut self, init: Initializer) -> Self {
        self.bias_initializer = init;
        self
    }
    super::super::weight_option_methods!();
}

impl Layer for Dense {
    fn class_name(&self) -> &'static str {
        "Dense"
    }
    base_accessors!();

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        if self.units == 0 {
            return Err(Error::layer(&self.base.name, "Dense needs units >= 1, received units=0"));
        }
        let Some(&fan_in) = input_shape.last() else {
            return Err(Error::layer(&self.base.name, "Dense needs inputs with at least one axis after the batch axis"));
        };
        let kshape = [fan_in, self.units];
        let bias_init = self.use_bias.then_some(self.bias_initializer);
        let (kernel, bias) = make_kernel_and_bias(&kshape, self.kernel_initializer, bias_init, rng)?;
        self.built = Some(Built { input_shape: input_shape.to_vec(), kernel, bias });
        let mut out = input_shape.to_vec();
        *out.last_mut().expect("checked non-empty") = self.units;
        Ok(out)
    }

    fn call(&self, x: &Tensor, _training: bool) -> Result<Tensor> {
        let b = self.built.as_ref().ok_or_else(|| not_built(self))?;
        check_input(self, x, &b.input_shape)?;
        let fan_in = *b.input_shape.last().expect("built with a last axis") as isize;
        let flat = if x.rank() == 2 { x.clone() } else { x.reshape(&[-1, fan_in])? };
        // Bias and relu are fused into the product's output pass.
        let relu = self.activation == Activation::Relu;
        let mut y = ops::linear(&flat, &b.kernel, b.bias.as_ref(), relu)?;
        if x.rank() != 2 {
            let mut shape: Vec<isize> = x.shape().iter().map(|&d| d as isize).collect();
            *shape.last_mut().expect("rank > 2") = self.units as isize;
            y = y.reshape(&shape)?;
        }
        if relu { Ok(y) } else { self.activation.apply(&y) }
    }

    fn weights(&self) -> Vec<Weight> {
        self.built.as_ref().map(|b| kernel_and_bias(&b.kernel, b.bias.as_ref(), &self.weight_options)).unwrap_or_default()
    }

    fn config(&self) -> Value {
        let mut config = json!({
            "name": self.base.name,
            "trainable": true,
            "dtype": "float32",
            "units": self.units,
            "activation": self.activation.config(),
            "use_bias": self.use_bias,
            "kernel_initializer": self.kernel_initializer.config(),
            "bias_initializer": self.bias_initializer.config(),
        });
        self.weight_options.write_config(&mut config);
        config
    }
}
