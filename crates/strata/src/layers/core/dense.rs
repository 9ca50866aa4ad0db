//! `Dense`: the fully connected layer `y = activation(x · kernel + bias)`.

use serde_json::{json, Value};
use strata_core::{ops, Error, Result, Rng, Tensor};

use super::super::{base_accessors, kernel_and_bias, make_kernel_and_bias, LayerBase, check_input, not_built, Layer, KernelOptions, Weight};
use crate::activations::Activation;
use crate::layers::config as cfg;

/// Fully connected layer.
///
/// # Shapes
/// input `(batch, ..., in)`, kernel `(in, units)`, bias `(units,)`, output `(batch, ..., units)`.
///
/// ```
/// use strata::prelude::*;
///
/// # fn main() -> strata::Result<()> {
/// let mut model = Sequential::with_seed(0);
/// model.add(Dense::new(16).activation("relu").input_shape([8]))?;
/// model.add(Dense::new(3).activation("softmax"))?;
/// assert_eq!(model.output_shape(), Some(&[3][..]));
/// assert_eq!(model.count_params(), (8 * 16 + 16) + (16 * 3 + 3));
///
/// let p = model.predict(&Tensor::zeros(&[2, 8]), 32)?;
/// assert_eq!(p.shape(), [2, 3]);
/// # Ok(()) }
/// ```
pub struct Dense {
    base: LayerBase,
    units: usize,
    options: KernelOptions,
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
            options: KernelOptions::default(),
            built: None,
        }
    }
    super::super::kernel_layer_methods!();
}

impl Layer for Dense {
    fn passes_mask(&self) -> bool {
        true
    }
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
        let (kernel, bias) = make_kernel_and_bias(&self.base.name, &kshape, &self.options, rng)?;
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
        let relu = self.options.activation == Activation::Relu;
        let mut y = ops::linear(&flat, &b.kernel, b.bias.as_ref(), relu)?;
        if x.rank() != 2 {
            let mut shape: Vec<isize> = x.shape().iter().map(|&d| d as isize).collect();
            *shape.last_mut().expect("rank > 2") = self.units as isize;
            y = y.reshape(&shape)?;
        }
        if relu { Ok(y) } else { self.options.activation.apply(&y) }
    }

    fn weights(&self) -> Vec<Weight> {
        self.built.as_ref().map(|b| kernel_and_bias(&b.kernel, b.bias.as_ref(), &self.options.weight_options)).unwrap_or_default()
    }

    fn own_config(&self) -> Value {
        let mut config = json!({
            "units": self.units,
        });
        self.options.write_config(&mut config);
        config
    }
}

impl Dense {
    /// Reads Keras's config of this layer (`layer.get_config()`); `l` names it in errors.
    pub(crate) fn from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        Ok(Box::new(Dense::new(cfg::usize_field(l, config, "units")?).kernel_options(cfg::kernel_options_field(l, config)?)))
    }
}
