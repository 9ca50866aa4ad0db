//! The LSTM over a whole sequence. Its units are split into parts of a
//! fixed width ([`PART_UNITS`], whatever the thread count, so the results
//! are the same bits on any number of threads), and each part runs its
//! slice of the four gates on one thread: at each step, the product of the
//! previous state with its columns of the recurrent kernel, then its cells,
//! while the slice of the gates stays in that thread's cache; a step is one
//! fork and join. Back through time, each part runs its cells backward, then
//! computes its units' share of the previous state's gradient from every
//! part's pre-activation gradients. Rows are step-major (`[time, batch, ...]`).

use std::ops::Range;

use rayon::prelude::*;

use super::gate_dropout::{add_columns, columns, InputSide, StateSide};
use super::table_rows::Sequence;
use super::recurrent::{swap_leading, weight_grads};
use crate::autodiff::GradFn;
use crate::kernels::elementwise::sum_rows;
use crate::kernels::fastmath;
use crate::kernels::matmul::Gemm;
use crate::ops::recurrent::RecurrentDropout;
use crate::tensor::Tensor;

/// The most units one part runs.
const PART_UNITS: usize = 128;

/// One part's units, its columns of the recurrent kernel and what its steps keep.
struct Part {
    units: Range<usize>,
    /// Its columns of `U`, `[h, 4n]` (gate by gate), and each gate's block `[h, n]` when masked.
    u: Vec<f32>,
    gate_u: Vec<Vec<f32>>,
    /// `U`'s rows of its units, transposed: `[4h, n]`, for the state's gradient.
    u_t: Vec<f32>,
    /// Every step's gates after their activations `[t, b, 4n]`, and cell states `[t + 1, b, n]`.
    gates: Vec<f32>,
    c: Vec<f32>,
    /// Scratch for one step: pre-activations (and their gradients) `[b, 4n]`, `h` (and its gradient) `[b, n]`.
    z: Vec<f32>,
    h: Vec<f32>,
    /// The cell state's gradient carried back, `[b, n]`.
    dc: Vec<f32>,
}

impl Part {
    fn new(units: Range<usize>, u: &[f32], (b, t, h): (usize, usize, usize), c0: &[f32], masked: bool) -> Part {
        let n = units.len();
        let cols: Vec<Vec<f32>> = (0..4).map(|g| columns(u, 4 * h, g * h + units.start, n)).collect();
        let part_u = (0..h).flat_map(|k| cols.iter().flat_map(move |c| c[k * n..(k + 1) * n].iter().copied())).collect();
        let u_t = (0..4 * h).flat_map(|k| units.clone().map(move |j| u[j * 4 * h + k])).collect();
        let mut c = vec![0.0f32; (t + 1) * b * n];
        c[..b * n].copy_from_slice(&columns(c0, h, units.start, n));
        Part { units, u: part_u, gate_u: if masked { cols } else { Vec::new() }, u_t, gates: vec![0.0; t * b * 4 * n], c, z: vec![0.0; b * 4 * n], h: vec![0.0; b * n], dc: vec![0.0; b * n] }
    }

    fn n(&self) -> usize {
        self.units.len()
    }

    /// One step forward: `xw [b, 4h]` the step's input projection, `prev
    /// [b, h]` the state before it (or, with dropout, as each gate reads it).
    fn forward(&mut self, step: usize, xw: &[f32], prev: &[f32], read: Option<&[Vec<f32>]>, h: usize) {
        let (n, a) = (self.n(), self.units.start);
        let b = prev.len() / h;
        for (z, x) in self.z.chunks_mut(4 * n).zip(xw.chunks(4 * h)) {
            for g in 0..4 {
                z[g * n..(g + 1) * n].copy_from_slice(&x[g * h + a..g * h + a + n]);
            }
        }
        match read {
            None => Gemm { m: b, k: h, n: 4 * n, trans_a: false, trans_b: false }.run_serial(prev, &self.u, &mut self.z, true),
            Some(read) => {
                let mut part = vec![0.0f32; b * n];
                for (g, (read, u)) in read.iter().zip(&self.gate_u).enumerate() {
                    Gemm { m: b, k: h, n, trans_a: false, trans_b: false }.run_serial(read, u, &mut part, false);
                    add_columns(&mut self.z, 4 * n, g * n, &part);
                }
            }
        }
        let (before, after) = self.c.split_at_mut((step + 1) * b * n);
        let (c_prev, c_next) = (&before[step * b * n..], &mut after[..b * n]);
        let gates = &mut self.gates[step * b * 4 * n..(step + 1) * b * 4 * n];
        for (r, (z, g)) in self.z.chunks(4 * n).zip(gates.chunks_mut(4 * n)).enumerate() {
            fastmath::lstm_cells(z, g, &c_prev[r * n..(r + 1) * n], &mut self.h[r * n..(r + 1) * n], &mut c_next[r * n..(r + 1) * n]);
        }
    }

    /// One step's cells backward, from `dy [b, 2h]` (the output's gradient
    /// at this step) and the state's gradient from the step after (`self.h`);
    /// leaves the pre-activations' gradient in `self.z`.
    fn cells_backward(&mut self, step: usize, dy: &[f32], h: usize) {
        let (n, a) = (self.n(), self.units.start);
        let b = dy.len() / (2 * h);
        let c_prev = &self.c[step * b * n..(step + 1) * b * n];
        let c_now = &self.c[(step + 1) * b * n..(step + 2) * b * n];
        let gates = &self.gates[step * b * 4 * n..(step + 1) * b * 4 * n];
        for r in 0..b {
            let dyr = &dy[r * 2 * h..(r + 1) * 2 * h];
            let (rows, cols) = (r * n..(r + 1) * n, r * 4 * n..(r + 1) * 4 * n);
            fastmath::lstm_cells_backward(&gates[cols.clone()], &c_prev[rows.clone()], &c_now[rows.clone()], &dyr[a..a + n], &dyr[h + a..h + a + n], &self.h[rows.clone()], &mut self.dc[rows], &mut self.z[cols]);
        }
    }

    /// Its units' share of the previous state's gradient, into `self.h`,
    /// from every part's pre-activation gradients `dz [b, 4h]` (with
    /// dropout: each gate's columns `[b, h]` and the state masks `[4, b, h]`).
    fn state_grad(&mut self, dz: &[f32], by_gate: Option<(&[Vec<f32>], &[f32])>, h: usize) {
        let (n, a) = (self.n(), self.units.start);
        let b = dz.len() / (4 * h);
        let Some((dz_gates, masks)) = by_gate else {
            Gemm { m: b, k: 4 * h, n, trans_a: false, trans_b: false }.run_serial(dz, &self.u_t, &mut self.h, false);
            return;
        };
        self.h.fill(0.0);
        let mut part = vec![0.0f32; b * n];
        for (g, dz) in dz_gates.iter().enumerate() {
            Gemm { m: b, k: h, n, trans_a: false, trans_b: false }.run_serial(dz, &self.u_t[g * h * n..(g + 1) * h * n], &mut part, false);
            let mask = &masks[g * b * h..(g + 1) * b * h];
            for (r, p) in part.chunks(n).enumerate() {
                self.h[r * n..(r + 1) * n].iter_mut().zip(p).zip(&mask[r * h + a..r * h + a + n]).for_each(|((d, p), m)| *d += p * m);
            }
        }
    }
}

/// Copies each part's `[b, n]` rows into columns `units` of `out [b, h]`.
fn gather_parts(parts: &[Part], pick: impl Fn(&Part) -> &[f32], out: &mut [f32], h: usize) {
    for p in parts {
        let n = p.n();
        for (o, v) in out.chunks_mut(h).zip(pick(p).chunks(n)) {
            o[p.units.clone()].copy_from_slice(v);
        }
    }
}

/// [`Tensor::lstm`] on the host, for checked shapes `(batch, time, features, units)`.
pub(crate) fn lstm(input: &Tensor, [kernel, recurrent, bias]: [&Tensor; 3], [h0, c0]: [&Tensor; 2], dropout: &RecurrentDropout, (b, t, d, h): (usize, usize, usize, usize)) -> Tensor {
    let w = 4 * h;
    let (inputs_side, u) = (InputSide::new(dropout, b, h), StateSide::new(dropout, recurrent.to_vec(), (b, h, w), 0));
    let x = Sequence::new(input, &inputs_side, (b, t, d));
    let xw = x.project(&inputs_side, &kernel.data(), &bias.data(), (b, t, d), w);
    let count = h.div_ceil(PART_UNITS);
    let mut parts: Vec<Part> = (0..count).map(|i| Part::new(i * h / count..(i + 1) * h / count, u.kernel(), (b, t, h), &c0.data(), u.masks().is_some())).collect();
    // Every step's hidden state, from the initial one: `[t + 1, b, h]`.
    let mut states = vec![0.0f32; (t + 1) * b * h];
    states[..b * h].copy_from_slice(&h0.data());
    for step in 0..t {
        let (before, after) = states.split_at_mut((step + 1) * b * h);
        let prev = &before[step * b * h..];
        let read: Option<Vec<Vec<f32>>> = u.masks().map(|_| (0..4).map(|g| u.through_mask(prev, g).into_owned()).collect());
        let xs = &xw[step * b * w..(step + 1) * b * w];
        parts.par_iter_mut().for_each(|p| p.forward(step, xs, prev, read.as_deref(), h));
        gather_parts(&parts, |p| &p.h, &mut after[..b * h], h);
    }
    // The output `[b, t, 2h]`: each step's `h`, then its `c`.
    let mut out = vec![0.0f32; b * t * 2 * h];
    for (i, row) in out.chunks_mut(2 * h).enumerate() {
        let (r, step) = (i / t, i % t);
        row[..h].copy_from_slice(&states[((step + 1) * b + r) * h..((step + 1) * b + r + 1) * h]);
        for p in &parts {
            let n = p.n();
            row[h + p.units.start..h + p.units.end].copy_from_slice(&p.c[((step + 1) * b + r) * n..((step + 1) * b + r + 1) * n]);
        }
    }
    let inputs = vec![x.graph_input(input), kernel.clone(), recurrent.clone(), bias.clone(), h0.clone(), c0.clone()];
    let parts = std::sync::Mutex::new(parts);
    let backward = move |inputs: &[Tensor], _y: &[f32], dy: &[f32]| {
        let mut parts = parts.lock().unwrap_or_else(|e| e.into_inner());
        let dy = swap_leading(dy, b, t, 2 * h);
        for p in parts.iter_mut() {
            p.h.fill(0.0);
            p.dc.fill(0.0);
        }
        let mut dz = vec![0.0f32; t * b * w];
        for step in (0..t).rev() {
            let dys = &dy[step * b * 2 * h..(step + 1) * b * 2 * h];
            parts.par_iter_mut().for_each(|p| p.cells_backward(step, dys, h));
            let dz_step = &mut dz[step * b * w..(step + 1) * b * w];
            for p in parts.iter() {
                let n = p.n();
                for (row, z) in dz_step.chunks_mut(w).zip(p.z.chunks(4 * n)) {
                    for g in 0..4 {
                        row[g * h + p.units.start..g * h + p.units.end].copy_from_slice(&z[g * n..(g + 1) * n]);
                    }
                }
            }
            let dz_step = &dz[step * b * w..(step + 1) * b * w];
            let dz_gates: Option<Vec<Vec<f32>>> = u.masks().map(|_| (0..4).map(|g| columns(dz_step, w, g * h, h)).collect());
            let by_gate = dz_gates.as_deref().zip(u.masks());
            parts.par_iter_mut().for_each(|p| p.state_grad(dz_step, by_gate, h));
        }
        let (mut dh0, mut dc0) = (vec![0.0f32; b * h], vec![0.0f32; b * h]);
        gather_parts(&parts, |p| &p.h, &mut dh0, h);
        gather_parts(&parts, |p| &p.dc, &mut dc0, h);
        let [dx, dk, du] = weight_grads((&x, &inputs_side, &u), &inputs[1].data(), (&dz, &dz), &states[..t * b * h], (b, t, d, w));
        vec![dx, dk, du, Some(sum_rows(&dz, w)), Some(dh0), Some(dc0)]
    };
    Tensor::from_op(out, vec![b, t, 2 * h], GradFn::host("lstm", inputs, backward))
}
