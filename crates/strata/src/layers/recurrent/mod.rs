//! Recurrent layers, as Keras's: each runs its whole sequence as one op of
//! `strata_core` (the input projection of every step as one product, a
//! fused cell per step, back through time in the backward pass).

mod bidirectional;
mod gru;
mod layer;
mod lstm;
mod packing;
mod simple_rnn;
mod time_distributed;
mod wrapper;

pub use bidirectional::{Bidirectional, MergeMode};
pub use gru::GRU;
pub use lstm::LSTM;
pub use simple_rnn::SimpleRNN;
pub use time_distributed::TimeDistributed;


use serde_json::Value;
use strata_core::{Error, Result, Tensor};

use crate::layers::config as cfg;

/// What every recurrent layer of Keras takes besides its cell's own options.
#[derive(Clone, Copy, Default)]
pub(crate) struct Sequence {
    /// Return every step's output (`[batch, time, units]`), not only the last.
    pub(crate) return_sequences: bool,
    /// Also return the final states.
    pub(crate) return_state: bool,
    /// Read the sequence from its last step to its first.
    pub(crate) go_backwards: bool,
}

impl Sequence {
    pub(crate) fn from_config(l: &str, config: &Value) -> Result<Sequence> {
        // What Strata's recurrent layers do not do yet is refused, not ignored.
        for (name, ok) in [("stateful", Value::Bool(false)), ("unroll", Value::Bool(false))] {
            if config.get(name).is_some_and(|v| v != &ok) {
                return Err(cfg::bad(l, name, &format!("{ok} (Strata supports no other yet)"), &config[name]));
            }
        }
        Ok(Sequence {
            return_sequences: cfg::bool_field(l, config, "return_sequences", false)?,
            return_state: cfg::bool_field(l, config, "return_state", false)?,
            go_backwards: cfg::bool_field(l, config, "go_backwards", false)?,
        })
    }

    pub(crate) fn write_config(&self, config: &mut Value) {
        for (name, v) in [("return_sequences", self.return_sequences), ("return_state", self.return_state), ("go_backwards", self.go_backwards), ("stateful", false), ("unroll", false)] {
            config[name] = Value::Bool(v);
        }
    }

    /// The input in the order the cell reads it.
    pub(crate) fn ordered(&self, x: &Tensor) -> Result<Tensor> {
        if !self.go_backwards {
            return Ok(x.clone());
        }
        let steps = x.shape()[1];
        x.gather(1, &(0..steps).rev().collect::<Vec<_>>())
    }

    /// A `(batch, steps)` mask's values in the order the cell reads the steps.
    pub(crate) fn ordered_mask(&self, keep: &[bool], steps: usize) -> Vec<bool> {
        if !self.go_backwards {
            return keep.to_vec();
        }
        keep.chunks(steps).flat_map(|row| row.iter().rev().copied()).collect()
    }

    /// The masks of the outputs (Keras's `RNN.compute_mask`): the input's on
    /// the sequence when every step's output is returned (in the input's
    /// order, even with `go_backwards`, as Keras), none on the states.
    pub(crate) fn output_masks(&self, mask: Option<Tensor>, outputs: usize) -> Vec<Option<Tensor>> {
        let mut masks = vec![None; outputs];
        if self.return_sequences {
            masks[0] = mask;
        }
        masks
    }

    /// The layer's outputs from every step's output `[batch, time, units]`
    /// and the final states.
    pub(crate) fn outputs(&self, every_step: &Tensor, states: Vec<Tensor>) -> Result<Vec<Tensor>> {
        let last = every_step.select(1, every_step.shape()[1] - 1)?;
        let output = if self.return_sequences { every_step.clone() } else { last };
        let mut out = vec![output];
        if self.return_state {
            out.extend(states);
        }
        Ok(out)
    }

    /// The output shapes for an input of `[time, features]`.
    pub(crate) fn output_shapes(&self, time: usize, units: usize, states: usize) -> Vec<Vec<usize>> {
        let mut shapes = vec![if self.return_sequences { vec![time, units] } else { vec![units] }];
        if self.return_state {
            shapes.extend((0..states).map(|_| vec![units]));
        }
        shapes
    }
}

/// A recurrent layer's tensor keyword argument in Keras's JSON: `initial_state`, if given.
pub(crate) fn initial_state_kwargs(kwargs: &Value) -> Vec<String> {
    kwargs.get("initial_state").filter(|v| !v.is_null()).map(|_| vec!["initial_state".to_string()]).unwrap_or_default()
}

/// A recurrent layer's inputs as Keras calls it: the sequence, and the initial states as `initial_state=[...]`.
pub(crate) fn initial_state_split(mut inputs: Vec<Value>) -> (Vec<Value>, serde_json::Map<String, Value>) {
    let states = inputs.split_off(1.min(inputs.len()));
    let mut kwargs = serde_json::Map::new();
    if !states.is_empty() {
        kwargs.insert("initial_state".into(), Value::Array(states));
    }
    (inputs, kwargs)
}

/// Checks a recurrent layer's input shape `[time, features]` (batch excluded).
pub(crate) fn check_sequence_shape(layer: &str, shape: &[usize]) -> Result<(usize, usize)> {
    match shape {
        [t, d] if *t > 0 => Ok((*t, *d)),
        _ => Err(Error::layer(layer, format!("expects inputs of shape (batch, time, features) with at least one step, got {}", crate::layers::batch_shape(shape)))),
    }
}
