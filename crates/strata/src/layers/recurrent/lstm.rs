//! `LSTM`: long short-term memory (Hochreiter and Schmidhuber, 1997), as
//! Keras's `keras.layers.LSTM` with its default tanh and sigmoid.

use serde_json::{json, Value};
use strata_core::{Error, Result, Rng, Tensor};

use super::{check_sequence_shape, Sequence};
use crate::initializers::Initializer;
use crate::layers::config as cfg;
use crate::layers::{base_accessors, check_input, not_built, Layer, LayerBase, Weight};

/// Long short-term memory over a sequence `(batch, time, features)`.
///
/// Weights as Keras 3 names them: `lstm_cell/kernel` `(features, 4·units)`,
/// `lstm_cell/recurrent_kernel` `(units, 4·units)`, `lstm_cell/bias`
/// `(4·units,)`, gates in the order input, forget, cell, output.
///
/// # Shapes
/// output `(batch, units)`, or `(batch, time, units)` with
/// `return_sequences`; with `return_state`, also the final `h` and `c`,
/// `(batch, units)` each. Initial states may be given as the second and
/// third inputs (Keras's `initial_state=[h, c]`).
///
/// ```
/// use strata::prelude::*;
/// use strata::layers::LSTM;
///
/// # fn main() -> strata::Result<()> {
/// let mut model = Sequential::with_seed(0);
/// model.add(LSTM::new(8).return_sequences(true).input_shape([5, 3]))?;
/// model.add(LSTM::new(4))?;
/// assert_eq!(model.output_shape(), Some(&[4][..]));
/// assert_eq!(model.count_params(), 4 * (8 * (3 + 8) + 8) + 4 * (4 * (8 + 4) + 4));
/// # Ok(()) }
/// ```
pub struct LSTM {
    base: LayerBase,
    units: usize,
    sequence: Sequence,
    use_bias: bool,
    unit_forget_bias: bool,
    kernel_initializer: Initializer,
    recurrent_initializer: Initializer,
    bias_initializer: Initializer,
    built: Option<Built>,
}

struct Built {
    input_shape: Vec<usize>,
    kernel: Tensor,
    recurrent: Tensor,
    bias: Option<Tensor>,
}

impl LSTM {
    /// An LSTM of `units` with Keras's defaults: glorot-uniform kernel,
    /// orthogonal recurrent kernel, zero bias with the forget gate's at 1.
    pub fn new(units: usize) -> Self {
        LSTM {
            base: LayerBase::new("LSTM"),
            units,
            sequence: Sequence::default(),
            use_bias: true,
            unit_forget_bias: true,
            kernel_initializer: Initializer::GlorotUniform,
            recurrent_initializer: Initializer::Orthogonal { gain: 1.0 },
            bias_initializer: Initializer::Zeros,
            built: None,
        }
    }
    /// Return every step's output, not only the last (default false).
    pub fn return_sequences(mut self, on: bool) -> Self {
        self.sequence.return_sequences = on;
        self
    }
    /// Also return the final states `h` and `c` (default false).
    pub fn return_state(mut self, on: bool) -> Self {
        self.sequence.return_state = on;
        self
    }
    /// Read the sequence backwards (default false).
    pub fn go_backwards(mut self, on: bool) -> Self {
        self.sequence.go_backwards = on;
        self
    }
    /// Whether the gates have a bias (default true).
    pub fn use_bias(mut self, on: bool) -> Self {
        self.use_bias = on;
        self
    }
}

impl Layer for LSTM {
    fn class_name(&self) -> &'static str {
        "LSTM"
    }
    base_accessors!();

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        Ok(self.build_many(&[input_shape.to_vec()], rng)?.remove(0))
    }

    fn build_many(&mut self, input_shapes: &[Vec<usize>], rng: &mut Rng) -> Result<Vec<Vec<usize>>> {
        let name = self.base.name.clone();
        if self.units == 0 {
            return Err(Error::layer(&name, "LSTM needs units >= 1, received units=0"));
        }
        let (time, features) = check_sequence_shape(&name, &input_shapes[0])?;
        let h = self.units;
        if let Some(bad) = input_shapes[1..].iter().find(|s| s[..] != [h]) {
            return Err(Error::layer(&name, format!("initial states must be (batch, {h}), got {}", crate::layers::batch_shape(bad))));
        }
        if !matches!(input_shapes.len(), 1 | 3) {
            return Err(Error::layer(&name, format!("takes a sequence and optionally the initial states h and c: 1 or 3 inputs, got {}", input_shapes.len())));
        }
        let kernel = Tensor::variable(self.kernel_initializer.sample(&[features, 4 * h], rng), &[features, 4 * h])?;
        let recurrent = Tensor::variable(self.recurrent_initializer.sample(&[h, 4 * h], rng), &[h, 4 * h])?;
        let bias = match self.use_bias {
            true => {
                let mut b = self.bias_initializer.sample(&[4 * h], rng);
                if self.unit_forget_bias {
                    b[h..2 * h].fill(1.0);
                }
                Some(Tensor::variable(b, &[4 * h])?)
            }
            false => None,
        };
        self.built = Some(Built { input_shape: input_shapes[0].clone(), kernel, recurrent, bias });
        Ok(self.sequence.output_shapes(time, h, 2))
    }

    fn call(&self, x: &Tensor, training: bool) -> Result<Tensor> {
        Ok(self.call_many(std::slice::from_ref(x), training)?.remove(0))
    }

    fn call_many(&self, inputs: &[Tensor], _training: bool) -> Result<Vec<Tensor>> {
        let b = self.built.as_ref().ok_or_else(|| not_built(self))?;
        let x = &inputs[0];
        check_input(self, x, &b.input_shape)?;
        let (batch, h) = (x.shape()[0], self.units);
        let (h0, c0) = match inputs {
            [_] => (Tensor::zeros(&[batch, h]), Tensor::zeros(&[batch, h])),
            [_, h0, c0] => (h0.clone(), c0.clone()),
            _ => return Err(Error::layer(&self.base.name, format!("takes 1 or 3 inputs (the sequence, then h and c), got {}", inputs.len()))),
        };
        let bias = b.bias.clone().unwrap_or_else(|| Tensor::zeros(&[4 * h]));
        let y = self.sequence.ordered(x)?.lstm(&b.kernel, &b.recurrent, &bias, &h0, &c0).map_err(|e| Error::layer(&self.base.name, e.to_string()))?;
        let every_h = y.narrow(2, 0, h)?;
        let last = y.shape()[1] - 1;
        let states = vec![every_h.select(1, last)?, y.narrow(2, h, h)?.select(1, last)?];
        self.sequence.outputs(&every_h, states)
    }

    fn num_outputs(&self) -> usize {
        if self.sequence.return_state { 3 } else { 1 }
    }

    fn weights(&self) -> Vec<Weight> {
        let Some(b) = &self.built else { return Vec::new() };
        let mut w = vec![Weight::new("lstm_cell/kernel", b.kernel.clone(), true), Weight::new("lstm_cell/recurrent_kernel", b.recurrent.clone(), true)];
        if let Some(bias) = &b.bias {
            w.push(Weight::new("lstm_cell/bias", bias.clone(), true));
        }
        w
    }

    fn own_config(&self) -> Value {
        let mut config = json!({
            "units": self.units,
            "activation": "tanh",
            "recurrent_activation": "sigmoid",
            "use_bias": self.use_bias,
            "unit_forget_bias": self.unit_forget_bias,
            "kernel_initializer": self.kernel_initializer.config(),
            "recurrent_initializer": self.recurrent_initializer.config(),
            "bias_initializer": self.bias_initializer.config(),
            "seed": null,
        });
        self.sequence.write_config(&mut config);
        config
    }
}

impl LSTM {
    /// Reads Keras's config of this layer (`layer.get_config()`); `l` names it in errors.
    pub(crate) fn from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        for (name, only) in [("activation", "tanh"), ("recurrent_activation", "sigmoid")] {
            if config.get(name).is_some_and(|v| v.as_str() != Some(only)) {
                return Err(cfg::bad(l, name, &format!("\"{only}\" (Strata's fused LSTM supports no other yet)"), &config[name]));
            }
        }
        let mut layer = LSTM::new(cfg::usize_field(l, config, "units")?);
        layer.sequence = Sequence::from_config(l, config)?;
        layer.use_bias = cfg::bool_field(l, config, "use_bias", true)?;
        layer.unit_forget_bias = cfg::bool_field(l, config, "unit_forget_bias", true)?;
        layer.kernel_initializer = cfg::initializer_field(l, config, "kernel_initializer", Initializer::GlorotUniform)?;
        layer.recurrent_initializer = cfg::initializer_field(l, config, "recurrent_initializer", Initializer::Orthogonal { gain: 1.0 })?;
        layer.bias_initializer = cfg::initializer_field(l, config, "bias_initializer", Initializer::Zeros)?;
        Ok(Box::new(layer))
    }
}
