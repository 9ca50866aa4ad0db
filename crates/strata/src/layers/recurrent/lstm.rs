//! `LSTM`: long short-term memory (Hochreiter and Schmidhuber, 1997), as
//! Keras's `keras.layers.LSTM` with its default tanh and sigmoid.

use super::layer::{recurrent_layer, Cell, Recurrent};

/// Long short-term memory over a sequence `(batch, time, features)`.
///
/// Weights as Keras 3 names them: `lstm_cell/kernel` `(features, 4·units)`,
/// `lstm_cell/recurrent_kernel` `(units, 4·units)`, `lstm_cell/bias`
/// `(4·units,)`, gates in the order input, forget, cell, output; the forget
/// gate's bias starts at 1 (Keras's `unit_forget_bias`).
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
pub struct LSTM(Recurrent);

impl LSTM {
    /// An LSTM of `units` with Keras's defaults: glorot-uniform kernel,
    /// orthogonal recurrent kernel, zero bias with the forget gate's at 1.
    pub fn new(units: usize) -> Self {
        LSTM(Recurrent::new(Cell::Lstm, units))
    }
}

recurrent_layer!(LSTM, Cell::Lstm);
