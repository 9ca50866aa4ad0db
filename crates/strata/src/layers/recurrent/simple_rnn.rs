//! `SimpleRNN`: the plain recurrent layer `h_t = tanh(x_t W + h_(t-1) U + b)`,
//! as Keras's `keras.layers.SimpleRNN` with its default tanh.

use super::layer::{recurrent_layer, Cell, Recurrent};

/// A fully connected recurrent layer over a sequence `(batch, time, features)`.
///
/// Weights as Keras 3 names them: `simple_rnn_cell/kernel` `(features,
/// units)`, `simple_rnn_cell/recurrent_kernel` `(units, units)`,
/// `simple_rnn_cell/bias` `(units,)`.
///
/// # Shapes
/// output `(batch, units)`, or `(batch, time, units)` with
/// `return_sequences`; with `return_state`, also the final state
/// `(batch, units)`. An initial state may be given as the second input.
///
/// ```
/// use strata::prelude::*;
/// use strata::layers::SimpleRNN;
///
/// # fn main() -> strata::Result<()> {
/// let mut model = Sequential::with_seed(0);
/// model.add(SimpleRNN::new(8).return_sequences(true).input_shape([5, 3]))?;
/// assert_eq!(model.output_shape(), Some(&[5, 8][..]));
/// assert_eq!(model.count_params(), 8 * (3 + 8) + 8);
/// # Ok(()) }
/// ```
pub struct SimpleRNN(Recurrent);

impl SimpleRNN {
    /// A recurrent layer of `units` with Keras's defaults: glorot-uniform
    /// kernel, orthogonal recurrent kernel, zero bias.
    pub fn new(units: usize) -> Self {
        SimpleRNN(Recurrent::new(Cell::SimpleRnn, units))
    }
}

recurrent_layer!(SimpleRNN, Cell::SimpleRnn);
