//! The GRU over a whole sequence, as `recurrent.rs` runs the LSTM (Keras 3's
//! default `reset_after=True`: the reset gate scales the recurrent part of
//! the candidate after its product, and the recurrent side has its own bias).

use rayon::prelude::*;

use super::gate_dropout::{InputSide, StateSide};
use super::recurrent::{swap_leading, transposed, weight_grads, ROWS_PER_TASK};
use super::table_rows::Sequence;
use crate::autodiff::GradFn;
use crate::buffer::{self, Recycled};
use crate::kernels::elementwise::sum_rows;
use crate::kernels::fastmath;
use crate::ops::recurrent::RecurrentDropout;
use crate::tensor::Tensor;

/// [`Tensor::gru`] on the host, for checked shapes `(batch, time, features, units)`.
pub(crate) fn gru(input: &Tensor, [kernel, recurrent]: [&Tensor; 2], [input_bias, recurrent_bias]: [&Tensor; 2], h0: &Tensor, dropout: &RecurrentDropout, (b, t, d, h): (usize, usize, usize, usize)) -> Tensor {
    let w = 3 * h;
    let (inputs_side, u) = (InputSide::new(dropout, b, h), StateSide::new(dropout, buffer::copy_of(&recurrent.data()), (b, h, w), 0));
    let x = Sequence::new(input, &inputs_side, (b, t, d));
    let xw = x.project(&inputs_side, &kernel.data(), &input_bias.data(), (b, t, d), w);
    let rb = recurrent_bias.to_vec();
    // Kept for the backward pass: z, r and the candidate per row, the
    // recurrent part of the candidate before the reset gate, and the states.
    // Each written in full, step by step, before it is read.
    let mut gates = Recycled(buffer::take(t * b * w));
    let mut rec_h = Recycled(buffer::take(t * b * h));
    let mut states = Recycled(buffer::take((t + 1) * b * h));
    states[..b * h].copy_from_slice(&h0.data());
    let mut rz = vec![0.0f32; b * w];
    for step in 0..t {
        rz.iter_mut().zip(rb.iter().cycle()).for_each(|(v, bias)| *v = *bias);
        let (before, after) = states.split_at_mut((step + 1) * b * h);
        let prev = &before[step * b * h..];
        u.forward(prev, &mut rz, true);
        let xs = &xw[step * b * w..(step + 1) * b * w];
        let g = &mut gates[step * b * w..(step + 1) * b * w];
        let kept = &mut rec_h[step * b * h..(step + 1) * b * h];
        xs.par_chunks(w.max(1))
            .zip(rz.par_chunks(w.max(1)))
            .zip(g.par_chunks_mut(w.max(1)).zip(kept.par_chunks_mut(h.max(1))))
            .zip(prev.par_chunks(h.max(1)).zip(after[..b * h].par_chunks_mut(h.max(1))))
            .with_min_len(ROWS_PER_TASK)
            .for_each(|(((xr, rr), (g, kept)), (prev, next))| fastmath::gru_cells(xr, rr, g, kept, prev, next));
    }
    let out = swap_leading(&states[b * h..], t, b, h);
    let inputs = vec![x.graph_input(input), kernel.clone(), recurrent.clone(), input_bias.clone(), recurrent_bias.clone(), h0.clone()];
    let backward = move |inputs: &[Tensor], _y: &[f32], dy: &[f32]| {
        let dy = Recycled(swap_leading(dy, b, t, h));
        let u_t = transposed(u.kernel(), h, w);
        // Pre-activation gradients of the input side and of the recurrent side.
        // Written in full, step by step.
        let (mut dzx, mut dzr) = (Recycled(buffer::take(t * b * w)), Recycled(buffer::take(t * b * w)));
        let mut dh_next = vec![0.0f32; b * h];
        for step in (0..t).rev() {
            let rows = step * b * w..(step + 1) * b * w;
            let (g, prev, kept, dys) = (&gates[rows.clone()], &states[step * b * h..(step + 1) * b * h], &rec_h[step * b * h..(step + 1) * b * h], &dy[step * b * h..(step + 1) * b * h]);
            let (dzx_step, dzr_step) = (&mut dzx[rows.clone()], &mut dzr[rows]);
            dzx_step
                .par_chunks_mut(w.max(1))
                .zip(dzr_step.par_chunks_mut(w.max(1)))
                .zip(dh_next.par_chunks_mut(h.max(1)))
                .zip(g.par_chunks(w.max(1)).zip(prev.par_chunks(h.max(1))).zip(kept.par_chunks(h.max(1)).zip(dys.par_chunks(h.max(1)))))
                .with_min_len(ROWS_PER_TASK)
                .for_each(|(((dx, dr), dh_next), ((g, prev), (kept, dyr)))| fastmath::gru_cells_backward(g, kept, prev, dyr, dh_next, dx, dr));
            u.backward(&u_t, &dzr[step * b * w..(step + 1) * b * w], &mut dh_next, true);
        }
        let [dx, dk, du, db] = weight_grads((&x, &inputs_side, &u), &inputs[1].data(), (&dzx, &dzr), &states[..t * b * h], (b, t, d, w));
        vec![dx, dk, du, db, Some(sum_rows(&dzr, w)), Some(dh_next)]
    };
    Tensor::from_op(out, vec![b, t, h], GradFn::host("gru", inputs, backward))
}
