//! Recurrent cells over whole sequences, each one op (the kernels are the
//! backend's: `backend/host/recurrent.rs`).
//!
//! Keras's layout: kernels `[features, gates·units]`, recurrent kernels
//! `[units, gates·units]`, gates side by side (LSTM: i, f, c, o), sigmoid
//! gates and tanh activations.

use crate::error::{fmt_shape, Error, Result};
use crate::tensor::Tensor;

/// Keras 3's dropout inside a recurrent op, for training (`recurrent_dropout`,
/// and with it `dropout` drawn per gate): masks of 0 and `1 / (1 - rate)`,
/// one per sample and gate, the same at every step. Gate `g`'s columns of
/// the input projection read `x · inputs[g]`, and of the recurrent product
/// `h · states[g]`. The default, no masks, is the op without dropout.
#[derive(Clone, Default)]
pub struct RecurrentDropout {
    /// `[gates, batch, features]`, or none.
    pub inputs: Option<Tensor>,
    /// `[gates, batch, units]`, or none.
    pub states: Option<Tensor>,
}

impl RecurrentDropout {
    /// Checks the masks' shapes against the op's `gates` and `(batch, features, units)`.
    fn check(&self, op: &str, gates: usize, (b, d, h): (usize, usize, usize)) -> Result<()> {
        for (what, mask, want) in [("input", &self.inputs, [gates, b, d]), ("state", &self.states, [gates, b, h])] {
            if let Some(m) = mask.as_ref().filter(|m| m.shape() != want) {
                return Err(Error::shape(op, format!("the {what} dropout masks have shape {}, expected {}", fmt_shape(m.shape()), fmt_shape(&want))));
            }
        }
        Ok(())
    }

    fn tensors(&self) -> Vec<&Tensor> {
        self.inputs.iter().chain(&self.states).collect()
    }
}

/// Checks `x [batch, time, features]`, `kernel [features, g·units]`,
/// `recurrent [units, g·units]`, `bias [g·units]` and the states `[batch, units]`.
fn check(op: &str, gates: usize, x: &Tensor, kernel: &Tensor, recurrent: &Tensor, bias: &Tensor, states: &[&Tensor], dropout: &RecurrentDropout) -> Result<(usize, usize, usize, usize)> {
    let bad = |what: &str, t: &Tensor, want: String| Err(Error::shape(op, format!("{what} has shape {}, expected {want}", fmt_shape(t.shape()), )));
    let [b, t, d] = x.shape() else { return bad("the input", x, "(batch, time, features)".into()) };
    let (b, t, d) = (*b, *t, *d);
    let h = recurrent.shape().first().copied().unwrap_or(0);
    if kernel.shape() != [d, gates * h] {
        return bad("the kernel", kernel, fmt_shape(&[d, gates * h]));
    }
    if recurrent.shape() != [h, gates * h] {
        return bad("the recurrent kernel", recurrent, fmt_shape(&[h, gates * h]));
    }
    if bias.shape() != [gates * h] {
        return bad("the bias", bias, fmt_shape(&[gates * h]));
    }
    for s in states {
        if s.shape() != [b, h] {
            return bad("an initial state", s, fmt_shape(&[b, h]));
        }
    }
    if t == 0 {
        return Err(Error::shape(op, "the input has no time steps"));
    }
    dropout.check(op, gates, (b, d, h))?;
    let mut all = vec![x, kernel, recurrent, bias];
    all.extend(states);
    all.extend(dropout.tensors());
    super::same_device(op, &all)?;
    Ok((b, t, d, h))
}

impl Tensor {
    /// An LSTM over a whole sequence (Keras's `LSTM` with tanh and sigmoid):
    /// `x [batch, time, features]`, gates i, f, c, o, with `dropout`'s masks
    /// if any. Returns each step's hidden state `h` and its cell state `c`,
    /// `[batch, time, units]` each (one op with two outputs).
    pub fn lstm(&self, kernel: &Tensor, recurrent: &Tensor, bias: &Tensor, h0: &Tensor, c0: &Tensor, dropout: &RecurrentDropout) -> Result<[Tensor; 2]> {
        let dims = check("lstm", 4, self, kernel, recurrent, bias, &[h0, c0], dropout)?;
        Ok(self.backend().lstm(self, kernel, recurrent, bias, [h0, c0], dropout, dims))
    }

    /// A simple recurrent layer over a whole sequence (Keras's `SimpleRNN`
    /// with tanh): `h_t = tanh(x_t · kernel + h_(t-1) · recurrent + bias)`,
    /// with `dropout`'s masks if any. Returns every step's state, `[batch, time, units]`.
    pub fn simple_rnn(&self, kernel: &Tensor, recurrent: &Tensor, bias: &Tensor, h0: &Tensor, dropout: &RecurrentDropout) -> Result<Tensor> {
        let dims = check("simple_rnn", 1, self, kernel, recurrent, bias, &[h0], dropout)?;
        Ok(self.backend().simple_rnn(self, kernel, recurrent, bias, h0, dropout, dims))
    }

    /// A GRU over a whole sequence (Keras's `GRU` with `reset_after=True`,
    /// tanh and sigmoid): `x [batch, time, features]`, gates z, r, h; the
    /// input side's bias and the recurrent side's, `[3·units]` each; with
    /// `dropout`'s masks if any. Returns every step's state, `[batch, time, units]`.
    pub fn gru(&self, kernel: &Tensor, recurrent: &Tensor, [input_bias, recurrent_bias]: [&Tensor; 2], h0: &Tensor, dropout: &RecurrentDropout) -> Result<Tensor> {
        let dims = check("gru", 3, self, kernel, recurrent, input_bias, &[h0], dropout)?;
        check("gru", 3, self, kernel, recurrent, recurrent_bias, &[h0], dropout)?;
        Ok(self.backend().gru(self, kernel, recurrent, [input_bias, recurrent_bias], h0, dropout, dims))
    }

    /// A GRU over a whole sequence with `reset_after=False` (Keras 2's
    /// default, the original GRU): the reset gate scales the previous state
    /// before its product with the candidate's recurrent kernel, and one bias
    /// `[3·units]`; with `dropout`'s masks if any. Returns every step's
    /// state, `[batch, time, units]`.
    pub fn gru_reset_before(&self, kernel: &Tensor, recurrent: &Tensor, bias: &Tensor, h0: &Tensor, dropout: &RecurrentDropout) -> Result<Tensor> {
        let dims = check("gru_reset_before", 3, self, kernel, recurrent, bias, &[h0], dropout)?;
        Ok(self.backend().gru_reset_before(self, kernel, recurrent, bias, h0, dropout, dims))
    }
}
