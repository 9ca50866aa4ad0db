//! Recurrent cells over whole sequences: the input projection of every time
//! step as one matrix product, then a fused cell per step (rows shared among
//! threads); the backward pass runs back through time over the gates kept
//! from the forward pass, and each weight's gradient is again one product.
//! Everything per step is kept step-major (`[time, batch, ...]`), so a step's
//! rows are contiguous.

use rayon::prelude::*;

use crate::autodiff::GradFn;
use crate::buffer::{self, Recycled};
use super::gate_dropout::{InputSide, StateSide};
use super::table_rows::Sequence;
use crate::ops::recurrent::RecurrentDropout;
use crate::tensor::Tensor;

pub(super) use crate::kernels::fastmath::{sigmoid, tanh};
use crate::kernels::fastmath;

/// The gradients of the input (or its table: [`Sequence::graph_input`]),
/// kernel, recurrent kernel (each one product per gate side) and input-side
/// bias (the sum of `dz`'s rows): from the
/// pre-activation gradients of the input side `dz [b·t, g·h]` and of the
/// recurrent side `dz_rec` (the same for all but the GRU, whose reset gate
/// scales the recurrent part of its candidate), and the states each step
/// read (`h_prev [b·t, h]`).
pub(super) fn weight_grads((x, input, state): (&Sequence, &InputSide, &StateSide), kernel: &[f32], (dz, dz_rec): (&[f32], &[f32]), h_prev: &[f32], (b, t, d, width): (usize, usize, usize, usize)) -> [Option<Vec<f32>>; 4] {
    let [dx, dk, db] = x.grads(input, kernel, dz, (b, t, d), width);
    [dx, dk, Some(state.kernel_grad(h_prev, dz_rec, t * b)), db]
}

/// `[a, b, rest]` rows to `[b, a, rest]` rows (in a pooled buffer).
pub(super) fn swap_leading(x: &[f32], a: usize, b: usize, rest: usize) -> Vec<f32> {
    // Written in full below.
    let mut out = buffer::take(x.len());
    for i in 0..a {
        for j in 0..b {
            out[(j * a + i) * rest..(j * a + i + 1) * rest].copy_from_slice(&x[(i * b + j) * rest..(i * b + j + 1) * rest]);
        }
    }
    out
}

/// `[rows, cols]` as `[cols, rows]`: a recurrent kernel transposed once for
/// the backward pass's per-step product with it (a transposed right operand
/// would be transposed again at every step).
pub(super) fn transposed(x: &[f32], rows: usize, cols: usize) -> Recycled {
    // Written in full below.
    let mut out = Recycled(buffer::take(x.len()));
    crate::kernels::matmul::transpose(x, rows, cols, &mut out);
    out
}

/// Rows per task when the cells of one step are shared among threads.
pub(super) const ROWS_PER_TASK: usize = 8;

/// [`Tensor::simple_rnn`] on the host, for checked shapes `(batch, time, features, units)`.
pub(crate) fn simple_rnn(input: &Tensor, [kernel, recurrent, bias]: [&Tensor; 3], h0: &Tensor, dropout: &RecurrentDropout, (b, t, d, h): (usize, usize, usize, usize)) -> Tensor {
    let (inputs_side, u) = (InputSide::new(dropout, b, h), StateSide::new(dropout, buffer::copy_of(&recurrent.data()), (b, h, h), 0));
    let x = Sequence::new(input, &inputs_side, (b, t, d));
    let xw = x.project(&inputs_side, &kernel.data(), &bias.data(), (b, t, d), h);
    // Every step's state, from the initial one: `[time + 1, batch, units]`,
    // each written before it is read.
    let mut states = Recycled(buffer::take((t + 1) * b * h));
    states[..b * h].copy_from_slice(&h0.data());
    for step in 0..t {
        let (before, after) = states.split_at_mut((step + 1) * b * h);
        let next = &mut after[..b * h];
        next.copy_from_slice(&xw[step * b * h..(step + 1) * b * h]);
        u.forward(&before[step * b * h..], next, true);
        next.par_chunks_mut(h.max(1)).with_min_len(ROWS_PER_TASK).for_each(fastmath::tanh_in_place);
    }
    let out = swap_leading(&states[b * h..], t, b, h);
    let inputs = vec![x.graph_input(input), kernel.clone(), recurrent.clone(), bias.clone(), h0.clone()];
    let backward = move |inputs: &[Tensor], _y: &[f32], dy: &[f32]| {
        let dy = Recycled(swap_leading(dy, b, t, h));
        let u_t = transposed(u.kernel(), h, h);
        let mut da = Recycled(buffer::take(t * b * h));
        let mut dh_next = vec![0.0f32; b * h];
        for step in (0..t).rev() {
            let rows = step * b * h..(step + 1) * b * h;
            let now = &states[(step + 1) * b * h..(step + 2) * b * h];
            let da_step = &mut da[rows.clone()];
            da_step.par_chunks_mut(h.max(1)).zip(now.par_chunks(h.max(1)).zip(dy[rows].par_chunks(h.max(1)))).zip(dh_next.par_chunks(h.max(1))).with_min_len(ROWS_PER_TASK).for_each(|((da, (now, dyr)), dh_next)| {
                for j in 0..h {
                    da[j] = (dyr[j] + dh_next[j]) * (1.0 - now[j] * now[j]);
                }
            });
            u.backward(&u_t, da_step, &mut dh_next, false);
        }
        let [dx, dk, du, db] = weight_grads((&x, &inputs_side, &u), &inputs[1].data(), (&da, &da), &states[..t * b * h], (b, t, d, h));
        vec![dx, dk, du, db, Some(dh_next)]
    };
    Tensor::from_op(out, vec![b, t, h], GradFn::host("simple_rnn", inputs, backward))
}
