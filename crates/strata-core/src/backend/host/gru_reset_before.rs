//! The GRU with `reset_after=False` (Keras 2's default, and the original
//! GRU): the reset gate scales the previous state *before* its product with
//! the candidate's recurrent kernel, `h~ = tanh(x W_h + (r * h) U_h + b_h)`,
//! and there is one bias. So each step takes two products with the recurrent
//! kernel: `h U_zr` for the gates, then `(r * h) U_h` for the candidate.

use rayon::prelude::*;

use super::gate_dropout::{columns, InputSide, StateSide};
use super::recurrent::{sigmoid, swap_leading, tanh, transposed, ROWS_PER_TASK};
use super::table_rows::Sequence;
use crate::autodiff::GradFn;
use crate::buffer::{self, Recycled};
use crate::kernels::matmul::Gemm;
use crate::ops::recurrent::RecurrentDropout;
use crate::tensor::Tensor;

/// [`Tensor::gru_reset_before`] on the host, for checked shapes `(batch, time, features, units)`.
pub(crate) fn gru_reset_before(input: &Tensor, [kernel, recurrent, bias]: [&Tensor; 3], h0: &Tensor, dropout: &RecurrentDropout, (b, t, d, h): (usize, usize, usize, usize)) -> Tensor {
    let w = 3 * h;
    let inputs_side = InputSide::new(dropout, b, h);
    let x = Sequence::new(input, &inputs_side, (b, t, d));
    let xw = x.project(&inputs_side, &kernel.data(), &bias.data(), (b, t, d), w);
    let u = recurrent.to_vec();
    // The gates' product reads h_prev through the z and r gates' masks, the
    // candidate's reads it through the third mask (then times r).
    let (u_zr, u_h) = (StateSide::new(dropout, columns(&u, w, 0, 2 * h), (b, h, 2 * h), 0), StateSide::new(dropout, columns(&u, w, 2 * h, h), (b, h, h), 2));
    // Kept for the backward pass: z, r and the candidate per row, r * h_prev, and the states.
    // Each written in full, step by step, before it is read.
    let mut gates = Recycled(buffer::take(t * b * w));
    let mut reset = Recycled(buffer::take(t * b * h));
    let mut states = Recycled(buffer::take((t + 1) * b * h));
    states[..b * h].copy_from_slice(&h0.data());
    let (mut zr, mut cand_rec) = (vec![0.0f32; b * 2 * h], vec![0.0f32; b * h]);
    for step in 0..t {
        let (before, after) = states.split_at_mut((step + 1) * b * h);
        let prev = &before[step * b * h..];
        u_zr.forward(prev, &mut zr, false);
        let prev_h = u_h.through_mask(prev, 0);
        let xs = &xw[step * b * w..(step + 1) * b * w];
        let g = &mut gates[step * b * w..(step + 1) * b * w];
        let rh = &mut reset[step * b * h..(step + 1) * b * h];
        xs.par_chunks(w.max(1))
            .zip(zr.par_chunks((2 * h).max(1)))
            .zip(g.par_chunks_mut(w.max(1)).zip(rh.par_chunks_mut(h.max(1))))
            .zip(prev_h.par_chunks(h.max(1)))
            .with_min_len(ROWS_PER_TASK)
            .for_each(|(((xr, zrr), (g, rh)), prev_h)| {
                for j in 0..h {
                    let (z, r) = (sigmoid(xr[j] + zrr[j]), sigmoid(xr[h + j] + zrr[h + j]));
                    (g[j], g[h + j], rh[j]) = (z, r, r * prev_h[j]);
                }
            });
        Gemm { m: b, k: h, n: h, trans_a: false, trans_b: false }.run_small_parallel(rh, u_h.kernel(), &mut cand_rec, false);
        xs.par_chunks(w.max(1))
            .zip(cand_rec.par_chunks(h.max(1)))
            .zip(g.par_chunks_mut(w.max(1)))
            .zip(prev.par_chunks(h.max(1)).zip(after[..b * h].par_chunks_mut(h.max(1))))
            .with_min_len(ROWS_PER_TASK)
            .for_each(|(((xr, cr), g), (prev, next))| {
                for j in 0..h {
                    let (z, cand) = (g[j], tanh(xr[2 * h + j] + cr[j]));
                    g[2 * h + j] = cand;
                    next[j] = z * prev[j] + (1.0 - z) * cand;
                }
            });
    }
    let out = swap_leading(&states[b * h..], t, b, h);
    let inputs = vec![x.graph_input(input), kernel.clone(), recurrent.clone(), bias.clone(), h0.clone()];
    let backward = move |inputs: &[Tensor], _y: &[f32], dy: &[f32]| {
        let dy = Recycled(swap_leading(dy, b, t, h));
        let (u_zr_t, u_h_t) = (transposed(u_zr.kernel(), h, 2 * h), transposed(u_h.kernel(), h, h));
        // Pre-activation gradients [da_z, da_r, da_h] per step, and the gradient of r * h_prev.
        let mut dz = Recycled(buffer::take(t * b * w));
        let mut d_rh = vec![0.0f32; b * h];
        let mut dh_next = vec![0.0f32; b * h];
        for step in (0..t).rev() {
            let rows = step * b * w..(step + 1) * b * w;
            let (g, prev, dys) = (&gates[rows.clone()], &states[step * b * h..(step + 1) * b * h], &dy[step * b * h..(step + 1) * b * h]);
            let dz_step = &mut dz[rows];
            // dh = dy + dh_next; the candidate's and the update gate's pre-activation gradients.
            dz_step.par_chunks_mut(w.max(1)).zip(dh_next.par_chunks_mut(h.max(1))).zip(g.par_chunks(w.max(1)).zip(prev.par_chunks(h.max(1))).zip(dys.par_chunks(h.max(1)))).with_min_len(ROWS_PER_TASK).for_each(|((dz, dh), ((g, prev), dyr))| {
                for j in 0..h {
                    let (z, cand) = (g[j], g[2 * h + j]);
                    let total = dyr[j] + dh[j];
                    dz[2 * h + j] = total * (1.0 - z) * (1.0 - cand * cand);
                    dz[j] = total * (prev[j] - cand) * z * (1.0 - z);
                    dh[j] = total * z;
                }
            });
            let da_h = columns(dz_step, w, 2 * h, h);
            Gemm { m: b, k: h, n: h, trans_a: false, trans_b: false }.run_small_parallel(&da_h, &u_h_t, &mut d_rh, false);
            // Through r * h_prev (h_prev as the candidate read it): to the reset gate and to h_prev.
            let (prev_h, d_rh_read) = (u_h.through_mask(prev, 0), u_h.through_mask(&d_rh, 0));
            dz_step.par_chunks_mut(w.max(1)).zip(dh_next.par_chunks_mut(h.max(1))).zip(g.par_chunks(w.max(1)).zip(prev_h.par_chunks(h.max(1))).zip(d_rh.par_chunks(h.max(1)).zip(d_rh_read.par_chunks(h.max(1))))).with_min_len(ROWS_PER_TASK).for_each(|((dz, dh), ((g, prev_h), (drh, drh_read)))| {
                for j in 0..h {
                    let r = g[h + j];
                    dz[h + j] = drh[j] * prev_h[j] * r * (1.0 - r);
                    dh[j] += drh_read[j] * r;
                }
            });
            u_zr.backward(&u_zr_t, &columns(dz_step, w, 0, 2 * h), &mut dh_next, true);
        }
        // The gates' part of the recurrent kernel's gradient comes from h_prev, the candidate's from r * h_prev.
        let [dx, dk, db] = x.grads(&inputs_side, &inputs[1].data(), &dz, (b, t, d), w);
        let du_zr = u_zr.kernel_grad(&states[..t * b * h], &columns(&dz, w, 0, 2 * h), t * b);
        let mut du_h = vec![0.0f32; h * h];
        Gemm { m: h, k: t * b, n: h, trans_a: true, trans_b: false }.run(&reset, &columns(&dz, w, 2 * h, h), &mut du_h, false);
        let du: Vec<f32> = du_zr.chunks((2 * h).max(1)).zip(du_h.chunks(h.max(1))).flat_map(|(zr, c)| zr.iter().chain(c).copied()).collect();
        vec![dx, dk, Some(du), db, Some(dh_next)]
    };
    Tensor::from_op(out, vec![b, t, h], GradFn::host("gru_reset_before", inputs, backward))
}
