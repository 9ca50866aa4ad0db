//! `GRU`: the gated recurrent unit (Cho et al., 2014), as Keras 3's
//! `keras.layers.GRU` with its defaults (tanh, sigmoid, `reset_after=True`).

use super::layer::{recurrent_layer, Cell, Recurrent};

/// Gated recurrent unit over a sequence `(batch, time, features)`.
///
/// Weights as Keras 3 names them: `gru_cell/kernel` `(features, 3·units)`,
/// `gru_cell/recurrent_kernel` `(units, 3·units)`, `gru_cell/bias`
/// `(2, 3·units)` (the input side's, then the recurrent side's), gates in
/// the order update, reset, candidate. With `reset_after(false)` (Keras
/// 2's default and the original GRU) the reset gate scales the previous
/// state before the candidate's recurrent product, and the bias is one
/// `(3·units)`.
///
/// # Shapes
/// output `(batch, units)`, or `(batch, time, units)` with
/// `return_sequences`; with `return_state`, also the final state
/// `(batch, units)`. An initial state may be given as the second input.
///
/// ```
/// use strata::prelude::*;
/// use strata::layers::GRU;
///
/// # fn main() -> strata::Result<()> {
/// let mut model = Sequential::with_seed(0);
/// model.add(GRU::new(8).input_shape([5, 3]))?;
/// assert_eq!(model.output_shape(), Some(&[8][..]));
/// assert_eq!(model.count_params(), 3 * 8 * (3 + 8) + 2 * 3 * 8);
/// # Ok(()) }
/// ```
pub struct GRU(Recurrent);

impl GRU {
    /// A GRU of `units` with Keras's defaults: glorot-uniform kernel,
    /// orthogonal recurrent kernel, zero biases.
    pub fn new(units: usize) -> Self {
        GRU(Recurrent::new(Cell::Gru, units))
    }
    /// Whether the reset gate applies after the recurrent product (default
    /// true, Keras 3's; false: before it, with one bias).
    pub fn reset_after(mut self, on: bool) -> Self {
        self.0.reset_after = on;
        self
    }
}

recurrent_layer!(GRU, Cell::Gru);
