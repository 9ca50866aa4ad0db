//! What the recurrent layers share: one layer over a sequence whose cell
//! (SimpleRNN, LSTM or GRU) decides the weights' widths, the states and the
//! op; `LSTM`, `GRU` and `SimpleRNN` are this layer under Keras's names.

use serde_json::{json, Value};
use strata_core::ops::RecurrentDropout;
use strata_core::{Error, Result, Rng, Tensor};

use super::{check_sequence_shape, Sequence};
use crate::initializers::Initializer;
use crate::layers::config as cfg;
use crate::layers::random::{seed_field, RandomStream};
use crate::layers::{check_input, mask, not_built, Layer, LayerBase, Weight};
use super::packing::Packing;

/// The recurrent cell a layer runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cell {
    SimpleRnn,
    Lstm,
    Gru,
}

impl Cell {
    /// Keras's class name.
    pub(crate) fn class_name(self) -> &'static str {
        match self {
            Cell::SimpleRnn => "SimpleRNN",
            Cell::Lstm => "LSTM",
            Cell::Gru => "GRU",
        }
    }
    /// The prefix of its weights' names (Keras 3's cell attribute).
    fn prefix(self) -> &'static str {
        match self {
            Cell::SimpleRnn => "simple_rnn_cell",
            Cell::Lstm => "lstm_cell",
            Cell::Gru => "gru_cell",
        }
    }
    /// Gates side by side in the kernels.
    fn gates(self) -> usize {
        match self {
            Cell::SimpleRnn => 1,
            Cell::Lstm => 4,
            Cell::Gru => 3,
        }
    }
    /// States carried from step to step (`h`, and `c` for the LSTM).
    fn states(self) -> usize {
        if self == Cell::Lstm { 2 } else { 1 }
    }
    /// The bias's shape (the GRU's input and recurrent sides have one each
    /// with `reset_after`, Keras 3's default).
    fn bias_shape(self, units: usize, reset_after: bool) -> Vec<usize> {
        match self {
            Cell::Gru if reset_after => vec![2, 3 * units],
            _ => vec![self.gates() * units],
        }
    }
}

/// A recurrent layer: the cell, its size and options, and its weights once built.
pub(crate) struct Recurrent {
    pub(crate) base: LayerBase,
    cell: Cell,
    units: usize,
    pub(crate) sequence: Sequence,
    pub(crate) use_bias: bool,
    /// LSTM only: the forget gate's bias starts at 1 (Keras's `unit_forget_bias`).
    unit_forget_bias: bool,
    /// GRU only: the reset gate applies after the recurrent product (Keras 3's default) or before it.
    pub(crate) reset_after: bool,
    /// The share of input features dropped in training (one mask per sequence, as Keras's `dropout`).
    pub(crate) dropout: f32,
    /// The share of the previous state's units dropped in training before
    /// the recurrent product (Keras's `recurrent_dropout`; with it, Keras 3
    /// draws both kinds of mask per gate).
    pub(crate) recurrent_dropout: f32,
    /// Masked steps output 0 instead of the last output (Keras's
    /// `zero_output_for_mask`; `Bidirectional` sets it when it returns sequences).
    pub(crate) zero_output_for_mask: bool,
    /// Draws the dropout masks.
    pub(crate) stream: RandomStream,
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

impl Recurrent {
    /// Keras's defaults: glorot-uniform kernel, orthogonal recurrent kernel, zero bias.
    pub(crate) fn new(cell: Cell, units: usize) -> Self {
        Recurrent {
            base: LayerBase::new(cell.class_name()),
            cell,
            units,
            sequence: Sequence::default(),
            use_bias: true,
            unit_forget_bias: cell == Cell::Lstm,
            reset_after: true,
            dropout: 0.0,
            recurrent_dropout: 0.0,
            zero_output_for_mask: false,
            stream: RandomStream::default(),
            kernel_initializer: Initializer::GlorotUniform,
            recurrent_initializer: Initializer::Orthogonal { gain: 1.0 },
            bias_initializer: Initializer::Zeros,
            built: None,
        }
    }

    pub(crate) fn build_many(&mut self, input_shapes: &[Vec<usize>], rng: &mut Rng) -> Result<Vec<Vec<usize>>> {
        let (name, class, cell, h) = (self.base.name.clone(), self.cell.class_name(), self.cell, self.units);
        if h == 0 {
            return Err(Error::layer(&name, format!("{class} needs units >= 1, received units=0")));
        }
        for (what, rate) in [("dropout", self.dropout), ("recurrent_dropout", self.recurrent_dropout)] {
            if !(0.0..1.0).contains(&rate) {
                return Err(Error::layer(&name, format!("{what} must be in [0, 1), received {what}={rate}")));
            }
        }
        let (time, features) = check_sequence_shape(&name, &input_shapes[0])?;
        let states = cell.states();
        if input_shapes.len() != 1 && input_shapes.len() != 1 + states {
            return Err(Error::layer(&name, format!("takes a sequence and optionally its {states} initial state(s): 1 or {} inputs, got {}", 1 + states, input_shapes.len())));
        }
        if let Some(bad) = input_shapes[1..].iter().find(|s| s[..] != [h]) {
            return Err(Error::layer(&name, format!("initial states must be (batch, {h}), got {}", crate::layers::batch_shape(bad))));
        }
        let width = cell.gates() * h;
        let kernel = Tensor::variable(self.kernel_initializer.sample(&[features, width], rng), &[features, width])?;
        let recurrent = Tensor::variable(self.recurrent_initializer.sample(&[h, width], rng), &[h, width])?;
        let bias = match self.use_bias {
            true => {
                let shape = cell.bias_shape(h, self.reset_after);
                let mut b = self.bias_initializer.sample(&shape, rng);
                if self.unit_forget_bias {
                    b[h..2 * h].fill(1.0);
                }
                Some(Tensor::variable(b, &shape)?)
            }
            false => None,
        };
        self.stream.start(rng);
        self.built = Some(Built { input_shape: input_shapes[0].clone(), kernel, recurrent, bias });
        Ok(self.sequence.output_shapes(time, h, states))
    }

    /// The layer's call; `mask` marks the `(batch, steps)` that count. A
    /// masked step leaves the states as they were and outputs the last
    /// output (0 before the first kept step), or 0 with `zero_output_for_mask`,
    /// as Keras's masked loop does.
    pub(crate) fn call_masked(&self, layer: &dyn Layer, inputs: &[Tensor], mask: Option<&Tensor>, training: bool) -> Result<Vec<Tensor>> {
        let b = self.built.as_ref().ok_or_else(|| not_built(layer))?;
        let x = &inputs[0];
        check_input(layer, x, &b.input_shape)?;
        let (batch, h, cell) = (x.shape()[0], self.units, self.cell);
        let initial: Vec<Tensor> = match inputs.len() - 1 {
            0 => (0..cell.states()).map(|_| Tensor::zeros(&[batch, h])).collect(),
            n if n == cell.states() => inputs[1..].to_vec(),
            n => return Err(Error::layer(&self.base.name, format!("takes the sequence and {} initial state(s), got {n}", cell.states()))),
        };
        let mut x = self.sequence.ordered(x)?;
        let mut dropout = RecurrentDropout::default();
        let features = x.shape()[2];
        // Keras: masks per sample (and feature or unit), the same at every step, scaled by 1 / (1 - rate).
        if training && self.recurrent_dropout > 0.0 {
            // With recurrent dropout Keras 3 runs its per-gate cell, which draws one mask per gate of each kind.
            let gates = cell.gates();
            let draw = |per_row, rate| -> Result<Tensor> { Tensor::new(self.stream.dropout_mask(&self.base.name, gates * batch, per_row, rate)?, &[gates, batch, per_row]) };
            if self.dropout > 0.0 {
                dropout.inputs = Some(draw(features, self.dropout)?);
            }
            dropout.states = Some(draw(h, self.recurrent_dropout)?);
        } else if training && self.dropout > 0.0 {
            let keep = self.stream.dropout_mask(&self.base.name, batch, features, self.dropout)?;
            x = x.mul(&Tensor::new(keep, &[batch, 1, features])?)?;
        }
        let keep = match mask {
            Some(m) => Some(self.sequence.ordered_mask(&mask::steps_of(&self.base.name, m, &x)?, x.shape()[1])).filter(|k| k.contains(&false)),
            None => None,
        };
        let Some(keep) = keep else {
            let states = self.run_cell(b, &x, &initial, &dropout)?;
            let last = x.shape()[1] - 1;
            let finals = states.iter().map(|s| s.select(1, last)).collect::<Result<Vec<_>>>()?;
            return self.sequence.outputs(&states[0], finals);
        };
        // The kept steps of each sequence packed to its front run as one
        // unmasked sequence through the fused cells; the states and outputs
        // of the masked steps are then those of the last kept step before them.
        let packing = Packing::new(&keep, batch, x.shape()[1]);
        let states = self.run_cell(b, &packing.pack(&x)?, &initial, &dropout)?;
        let mut every = packing.unpack(&states[0], &Tensor::zeros(&[batch, h]))?;
        if self.zero_output_for_mask {
            every = mask::zero_masked(&every, &keep)?;
        }
        let finals = states.iter().zip(&initial).map(|(s, s0)| packing.last(s, s0)).collect::<Result<Vec<_>>>()?;
        self.sequence.outputs(&every, finals)
    }

    /// Every step's states `[batch, time, units]` (`h`, then `c` for the LSTM) from the cell's op.
    fn run_cell(&self, b: &Built, x: &Tensor, initial: &[Tensor], dropout: &RecurrentDropout) -> Result<Vec<Tensor>> {
        let (h, cell) = (self.units, self.cell);
        let bias = b.bias.clone().unwrap_or_else(|| Tensor::zeros(&cell.bias_shape(h, self.reset_after)));
        let named = |e: Error| Error::layer(&self.base.name, e.to_string());
        Ok(match cell {
            Cell::SimpleRnn => vec![x.simple_rnn(&b.kernel, &b.recurrent, &bias, &initial[0], dropout).map_err(named)?],
            Cell::Gru if self.reset_after => vec![x.gru(&b.kernel, &b.recurrent, [&bias.select(0, 0)?, &bias.select(0, 1)?], &initial[0], dropout).map_err(named)?],
            Cell::Gru => vec![x.gru_reset_before(&b.kernel, &b.recurrent, &bias, &initial[0], dropout).map_err(named)?],
            Cell::Lstm => {
                let [hs, cs] = x.lstm(&b.kernel, &b.recurrent, &bias, &initial[0], &initial[1], dropout).map_err(named)?;
                vec![hs, cs]
            }
        })
    }

    pub(crate) fn num_outputs(&self) -> usize {
        if self.sequence.return_state { 1 + self.cell.states() } else { 1 }
    }

    pub(crate) fn weights(&self) -> Vec<Weight> {
        let Some(b) = &self.built else { return Vec::new() };
        let p = self.cell.prefix();
        let mut w = vec![Weight::new(format!("{p}/kernel"), b.kernel.clone(), true), Weight::new(format!("{p}/recurrent_kernel"), b.recurrent.clone(), true)];
        if let Some(bias) = &b.bias {
            w.push(Weight::new(format!("{p}/bias"), bias.clone(), true));
        }
        w
    }

    pub(crate) fn own_config(&self) -> Value {
        let mut config = json!({
            "units": self.units,
            "activation": "tanh",
            "use_bias": self.use_bias,
            "kernel_initializer": self.kernel_initializer.config(),
            "recurrent_initializer": self.recurrent_initializer.config(),
            "bias_initializer": self.bias_initializer.config(),
        });
        if self.cell != Cell::SimpleRnn {
            config["recurrent_activation"] = json!("sigmoid");
        }
        match self.cell {
            Cell::Lstm => config["unit_forget_bias"] = json!(self.unit_forget_bias),
            Cell::Gru => config["reset_after"] = json!(self.reset_after),
            Cell::SimpleRnn => {}
        }
        self.sequence.write_config(&mut config);
        config["dropout"] = json!(self.dropout);
        config["recurrent_dropout"] = json!(self.recurrent_dropout);
        config["zero_output_for_mask"] = json!(self.zero_output_for_mask);
        config["seed"] = json!(self.stream.seed);
        config
    }

    /// Reads Keras's config of a `cell` layer; `l` names it in errors.
    pub(crate) fn from_config(cell: Cell, l: &str, config: &Value) -> Result<Recurrent> {
        let mut only = vec![("activation", "tanh")];
        if cell != Cell::SimpleRnn {
            only.push(("recurrent_activation", "sigmoid"));
        }
        for (name, value) in only {
            if config.get(name).is_some_and(|v| v.as_str() != Some(value)) {
                return Err(cfg::bad(l, name, &format!("\"{value}\" (Strata's fused {} supports no other yet)", cell.class_name()), &config[name]));
            }
        }
        let mut layer = Recurrent::new(cell, cfg::usize_field(l, config, "units")?);
        if cell == Cell::Gru {
            layer.reset_after = cfg::bool_field(l, config, "reset_after", true)?;
        }
        layer.sequence = Sequence::from_config(l, config)?;
        layer.dropout = cfg::num_field(l, config, "dropout", 0.0)?;
        layer.recurrent_dropout = cfg::num_field(l, config, "recurrent_dropout", 0.0)?;
        layer.zero_output_for_mask = cfg::bool_field(l, config, "zero_output_for_mask", false)?;
        layer.stream.seed = seed_field(l, config)?;
        layer.use_bias = cfg::bool_field(l, config, "use_bias", true)?;
        if cell == Cell::Lstm {
            layer.unit_forget_bias = cfg::bool_field(l, config, "unit_forget_bias", true)?;
        }
        layer.kernel_initializer = cfg::initializer_field(l, config, "kernel_initializer", Initializer::GlorotUniform)?;
        layer.recurrent_initializer = cfg::initializer_field(l, config, "recurrent_initializer", Initializer::Orthogonal { gain: 1.0 })?;
        layer.bias_initializer = cfg::initializer_field(l, config, "bias_initializer", Initializer::Zeros)?;
        Ok(layer)
    }
}

/// Builder methods and the `Layer` implementation of a recurrent layer
/// type `$t` that wraps a [`Recurrent`] of cell `$cell`.
macro_rules! recurrent_layer {
    ($t:ident, $cell:expr) => {
        impl $t {
            /// Return every step's output, not only the last (default false).
            pub fn return_sequences(mut self, on: bool) -> Self {
                self.0.sequence.return_sequences = on;
                self
            }
            /// Also return the final states (default false).
            pub fn return_state(mut self, on: bool) -> Self {
                self.0.sequence.return_state = on;
                self
            }
            /// Read the sequence backwards (default false).
            pub fn go_backwards(mut self, on: bool) -> Self {
                self.0.sequence.go_backwards = on;
                self
            }
            /// Drops this share of the input features in training, the same
            /// ones at every step of a sequence (Keras's `dropout`; default 0).
            pub fn dropout(mut self, rate: f32) -> Self {
                self.0.dropout = rate;
                self
            }
            /// Drops this share of the previous state's units in training
            /// before each step's recurrent product, the same ones at every
            /// step (Keras's `recurrent_dropout`; default 0). As in Keras 3,
            /// each gate then draws its own masks, for `dropout` too.
            pub fn recurrent_dropout(mut self, rate: f32) -> Self {
                self.0.recurrent_dropout = rate;
                self
            }
            /// Seeds the dropout masks (Keras's `seed=`; default: drawn from the model's seed).
            pub fn seed(mut self, seed: u64) -> Self {
                self.0.stream.seed = Some(seed);
                self
            }
            /// Whether the gates have biases (default true).
            pub fn use_bias(mut self, on: bool) -> Self {
                self.0.use_bias = on;
                self
            }
            /// Reads Keras's config of this layer (`layer.get_config()`); `l` names it in errors.
            pub(crate) fn from_config(l: &str, config: &serde_json::Value) -> strata_core::Result<Box<dyn $crate::layers::Layer>> {
                Ok(Box::new($t($crate::layers::recurrent::layer::Recurrent::from_config($cell, l, config)?)))
            }
        }

        impl $crate::layers::Layer for $t {
            fn class_name(&self) -> &'static str {
                $cell.class_name()
            }
            fn base(&self) -> &$crate::layers::LayerBase {
                &self.0.base
            }
            fn base_mut(&mut self) -> &mut $crate::layers::LayerBase {
                &mut self.0.base
            }
            fn build(&mut self, input_shape: &[usize], rng: &mut strata_core::Rng) -> strata_core::Result<Vec<usize>> {
                Ok(self.0.build_many(&[input_shape.to_vec()], rng)?.remove(0))
            }
            fn build_many(&mut self, input_shapes: &[Vec<usize>], rng: &mut strata_core::Rng) -> strata_core::Result<Vec<Vec<usize>>> {
                self.0.build_many(input_shapes, rng)
            }
            fn call(&self, x: &strata_core::Tensor, training: bool) -> strata_core::Result<strata_core::Tensor> {
                Ok(self.call_many(std::slice::from_ref(x), training)?.remove(0))
            }
            fn call_many(&self, inputs: &[strata_core::Tensor], training: bool) -> strata_core::Result<Vec<strata_core::Tensor>> {
                self.0.call_masked(self, inputs, None, training)
            }
            fn call_masked(&self, inputs: &[strata_core::Tensor], masks: &[Option<strata_core::Tensor>], training: bool) -> strata_core::Result<Vec<strata_core::Tensor>> {
                self.0.call_masked(self, inputs, masks.first().and_then(Option::as_ref), training)
            }
            fn compute_mask(&self, _inputs: &[strata_core::Tensor], masks: &[Option<strata_core::Tensor>]) -> strata_core::Result<Vec<Option<strata_core::Tensor>>> {
                Ok(self.0.sequence.output_masks(masks.first().cloned().flatten(), self.0.num_outputs()))
            }
            fn random_streams(&self) -> Vec<(String, [u64; 4])> {
                self.0.stream.states()
            }
            fn set_random_streams(&self, streams: &[(String, [u64; 4])]) -> strata_core::Result<()> {
                self.0.stream.restore(&self.0.base.name, streams)
            }
            fn num_outputs(&self) -> usize {
                self.0.num_outputs()
            }
            fn weights(&self) -> Vec<$crate::layers::Weight> {
                self.0.weights()
            }
            fn own_config(&self) -> serde_json::Value {
                self.0.own_config()
            }
            fn call_kwargs(&mut self, kwargs: &serde_json::Value) -> strata_core::Result<Vec<String>> {
                Ok($crate::layers::recurrent::initial_state_kwargs(kwargs))
            }
            fn keras_h5_paths(&self) -> Vec<String> {
                (0..self.0.weights().len()).map(|i| format!("cell/vars/{i}")).collect()
            }
            fn split_call(&self, inputs: Vec<serde_json::Value>) -> (Vec<serde_json::Value>, serde_json::Map<String, serde_json::Value>) {
                $crate::layers::recurrent::initial_state_split(inputs)
            }
        }
    };
}
pub(crate) use recurrent_layer;
