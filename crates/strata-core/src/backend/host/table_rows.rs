//! A recurrent layer's input when it is rows of a table (an embedding
//! lookup: [`Tensor::table_rows`]). The input projection `x · kernel + bias`
//! of a looked-up row is its table row's, so each table row is projected
//! once (`[vocabulary, d]` rows instead of `[batch · time, d]`) and copied
//! to its positions; backward, the positions' projection gradients are added
//! up by table row, and two products of the table's size give the table's
//! and the kernel's gradients. A character model's input side costs a
//! vocabulary's rows instead of a batch of sequences'.

use rayon::prelude::*;

use super::gate_dropout::InputSide;
use super::recurrent::swap_leading;
use crate::buffer::{self, Recycled};
use crate::kernels::elementwise::sum_rows;
use crate::kernels::matmul::Gemm;
use crate::tensor::Tensor;

/// A recurrent op's input sequence `[b, t, d]` as its input side reads it.
pub(super) enum Sequence {
    /// An embedding lookup's table and rows.
    Rows(TableRows),
    /// The sequence's values, step-major `[t · b, d]`.
    Values(Vec<f32>),
}

impl Sequence {
    /// `input` `[b, t, d]`: its table rows where it is a lookup and `side` has no masks.
    pub(super) fn new(input: &Tensor, side: &InputSide, (b, t, d): (usize, usize, usize)) -> Sequence {
        match TableRows::of(input, (b, t, d)).filter(|_| !side.masked()) {
            Some(rows) => Sequence::Rows(rows),
            None => Sequence::Values(swap_leading(&input.data(), b, t, d)),
        }
    }

    /// The tensor whose gradient the op gives: the table, or `input` itself.
    pub(super) fn graph_input(&self, input: &Tensor) -> Tensor {
        match self {
            Sequence::Rows(rows) => rows.table.clone(),
            Sequence::Values(_) => input.clone(),
        }
    }

    /// `x · kernel + bias` of every position, step-major `[t · b, width]`
    /// (back to the pool when dropped: a fresh buffer of this size each
    /// step costs more than the copy into it).
    pub(super) fn project(&self, side: &InputSide, kernel: &[f32], bias: &[f32], (b, t, d): (usize, usize, usize), width: usize) -> Recycled {
        match self.projection(side, kernel, bias, (b, t, d), width) {
            Projection::Table { rows, ids, .. } => {
                let mut out = buffer::take(t * b * width);
                out.par_chunks_mut((b * width).max(1)).enumerate().for_each(|(step, out)| {
                    for (r, row) in out.chunks_mut(width.max(1)).enumerate() {
                        let id = ids[r * t + step];
                        row.copy_from_slice(&rows[id * width..(id + 1) * width]);
                    }
                });
                Recycled(out)
            }
            Projection::Steps(x) => Recycled(x),
        }
    }

    /// `x · kernel + bias` as each step reads it: for table rows, each
    /// table row's projection once (no copy per position).
    pub(super) fn projection(&self, side: &InputSide, kernel: &[f32], bias: &[f32], (b, t, d): (usize, usize, usize), width: usize) -> Projection<'_> {
        match self {
            Sequence::Rows(rows) => Projection::Table { rows: rows.project(kernel, bias, width), ids: &rows.ids, t },
            Sequence::Values(x) => Projection::Steps(side.project(x, kernel, bias, t * b, d, width)),
        }
    }

    /// The table's row count and the row each position `[batch, time]`
    /// reads, for an embedding lookup.
    pub(super) fn table_ids(&self) -> Option<(usize, &[usize])> {
        match self {
            Sequence::Rows(rows) => Some((rows.table.shape()[0], &rows.ids)),
            Sequence::Values(_) => None,
        }
    }

    /// For an embedding lookup: the gradients of the table (where needed),
    /// kernel and bias from the projection's gradient added up by table row,
    /// `dp [rows, width]`.
    pub(super) fn grads_by_row(&self, kernel: &[f32], dp: &[f32], width: usize) -> Option<[Option<Vec<f32>>; 3]> {
        match self {
            Sequence::Rows(rows) => Some(rows.grads_by_row(kernel, dp, width)),
            Sequence::Values(_) => None,
        }
    }

    /// The gradients of [`Sequence::graph_input`] (where needed), of the
    /// kernel and of the bias from the projection's `dz`, step-major `[t · b, width]`.
    pub(super) fn grads(&self, side: &InputSide, kernel: &[f32], dz: &[f32], (b, t, d): (usize, usize, usize), width: usize) -> [Option<Vec<f32>>; 3] {
        match self {
            Sequence::Rows(rows) => rows.grads(kernel, dz, (b, t), width),
            Sequence::Values(x) => {
                let [dx, dk] = side.grads(x, kernel, dz, t * b, d, width);
                [Some(swap_leading(&dx, t, b, d)), Some(dk), Some(sum_rows(dz, width))]
            }
        }
    }
}

/// The input projection `x · kernel + bias` of a sequence, as its steps read it.
pub(super) enum Projection<'a> {
    /// Each table row's projection `[rows, width]`, and the row each
    /// position `[batch, time]` reads.
    Table { rows: Vec<f32>, ids: &'a [usize], t: usize },
    /// Every position's, step-major `[t · b, width]`.
    Steps(Vec<f32>),
}

impl Projection<'_> {
    /// The projection (`width` long) of batch row `r` of `b` at `step`.
    pub(super) fn row(&self, step: usize, r: usize, (b, width): (usize, usize)) -> &[f32] {
        let at = match self {
            Projection::Table { ids, t, .. } => ids[r * t + step],
            Projection::Steps(_) => step * b + r,
        };
        let (Projection::Table { rows: x, .. } | Projection::Steps(x)) = self;
        &x[at * width..(at + 1) * width]
    }

    /// Hands its buffer back for reuse.
    pub(super) fn recycle(self) {
        let (Projection::Table { rows: x, .. } | Projection::Steps(x)) = self;
        buffer::give(x);
    }
}

/// Table rows per parallel task when adding up the positions' gradients.
const ROWS_PER_TASK: usize = 8;

/// The table and the row each position `[batch, time]` reads.
pub(super) struct TableRows {
    table: Tensor,
    ids: Vec<usize>,
}

impl TableRows {
    /// `input`'s table and rows when `input` `[b, t, d]` is a lookup of a `[rows, d]` table.
    fn of(input: &Tensor, (b, t, d): (usize, usize, usize)) -> Option<TableRows> {
        let (table, ids) = input.table_rows()?;
        (table.rank() == 2 && table.shape()[1] == d && ids.len() == b * t).then(|| TableRows { table: table.clone(), ids: ids.to_vec() })
    }

    /// `row · kernel + bias` of every table row: `[rows, width]`.
    fn project(&self, kernel: &[f32], bias: &[f32], width: usize) -> Vec<f32> {
        let (rows, d) = (self.table.shape()[0], self.table.shape()[1]);
        let mut projected: Vec<f32> = bias.iter().copied().cycle().take(rows * width).collect();
        Gemm { m: rows, k: d, n: width, trans_a: false, trans_b: false }.run(&self.table.data(), kernel, &mut projected, true);
        projected
    }

    /// The gradients of the table (when it needs one), of the kernel and of
    /// the bias (the table rows' sums: a vocabulary's rows instead of every
    /// position's) from the projection's `dz`, step-major `[t · b, width]`.
    fn grads(&self, kernel: &[f32], dz: &[f32], (b, t): (usize, usize), width: usize) -> [Option<Vec<f32>>; 3] {
        let rows = self.table.shape()[0];
        // Each table row's share: its positions' gradients added step by step,
        // batch row by batch row (the same order on any number of threads).
        let mut dp = vec![0.0f32; rows * width];
        dp.par_chunks_mut(ROWS_PER_TASK * width.max(1)).enumerate().for_each(|(task, dp)| {
            let first = task * ROWS_PER_TASK;
            for step in 0..t {
                for r in 0..b {
                    let id = self.ids[r * t + step];
                    if (first..first + dp.len() / width).contains(&id) {
                        let g = &dz[(step * b + r) * width..(step * b + r + 1) * width];
                        dp[(id - first) * width..(id - first + 1) * width].iter_mut().zip(g).for_each(|(a, g)| *a += g);
                    }
                }
            }
        });
        self.grads_by_row(kernel, &dp, width)
    }

    /// The gradients of the table, kernel and bias from `dp [rows, width]`,
    /// the projection's gradient added up by table row.
    fn grads_by_row(&self, kernel: &[f32], dp: &[f32], width: usize) -> [Option<Vec<f32>>; 3] {
        let (rows, d) = (self.table.shape()[0], self.table.shape()[1]);
        let table = self.table.data();
        // Both products write every value (no accumulation) of a pooled buffer.
        let dtable = self.table.requires_grad().then(|| {
            let mut dtable = buffer::take(rows * d);
            Gemm { m: rows, k: width, n: d, trans_a: false, trans_b: true }.run(dp, kernel, &mut dtable, false);
            dtable
        });
        let mut dk = buffer::take(d * width);
        Gemm { m: d, k: rows, n: width, trans_a: true, trans_b: false }.run(&table, dp, &mut dk, false);
        [dtable, Some(dk), Some(sum_rows(dp, width))]
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::recurrent::RecurrentDropout;
    use crate::rng::Rng;
    use crate::tensor::Tensor;

    /// Each recurrent op reading an embedding lookup (each table row
    /// projected once) gives the values and weight gradients of the same op
    /// on a copy of the looked-up rows, and the table the copy's gradient
    /// added up by row (repeated ids included), with and without state
    /// masks; a lookup that goes through input masks, or whose table was
    /// written since, takes the ordinary path.
    #[test]
    fn recurrent_ops_on_table_rows_match_them_on_a_copy() {
        let mut r = Rng::new(12);
        let mut random = |shape: &[usize], scale: f32| Tensor::variable((0..shape.iter().product()).map(|_| scale * r.normal()).collect(), shape).unwrap();
        // 130 units: the LSTM runs them in two parts.
        let (b, t, d, h, v) = (3, 5, 4, 130, 7);
        let ids: Vec<usize> = (0..b * t).map(|i| (i * 5 + 3) % v).collect();
        let id_tensor = Tensor::from_i32(ids.iter().map(|&i| i as i32).collect(), &[b, t]).unwrap();
        for (op, gates) in [("lstm", 4), ("gru", 3), ("gru_reset_before", 3), ("simple_rnn", 1)] {
            let table = random(&[v, d], 1.0);
            let (k, u, bias, bias2) = (random(&[d, gates * h], 0.4), random(&[h, gates * h], 0.3), random(&[gates * h], 0.3), random(&[gates * h], 0.3));
            let (h0, c0) = (random(&[b, h], 0.5), random(&[b, h], 0.5));
            let width = if op == "lstm" { 2 * h } else { h };
            let weights = random(&[b, t, width], 1.0);
            let call = |x: &Tensor, masks: &RecurrentDropout| match op {
                "lstm" => x.lstm(&k, &u, &bias, &h0, &c0, masks).and_then(|y| Tensor::concat(&y, 2)),
                "gru" => x.gru(&k, &u, [&bias, &bias2], &h0, masks),
                "gru_reset_before" => x.gru_reset_before(&k, &u, &bias, &h0, masks),
                _ => x.simple_rnn(&k, &u, &bias, &h0, masks),
            }
            .unwrap();
            let x = table.take(&id_tensor, 0).unwrap();
            assert!(x.table_rows().is_some());
            let copy = Tensor::variable(x.to_vec(), x.shape()).unwrap();
            let run_with = |x: &Tensor, masks: &RecurrentDropout| {
                let y = call(x, masks);
                (y.to_vec(), y.mul(&weights).unwrap().sum().backward().unwrap())
            };
            let run = |x: &Tensor| run_with(x, &RecurrentDropout::default());
            // With and without state masks (the LSTM adds up its weight
            // gradients step by step without them, at the end with them).
            let state_masks = RecurrentDropout { inputs: None, states: Some(Tensor::new((0..gates * b * h).map(|i| (i % 4) as f32 * 0.5).collect(), &[gates, b, h]).unwrap()) };
            let mut plain = Vec::new();
            for masks in [RecurrentDropout::default(), state_masks] {
                let ((fused, gf), (values, gp)) = (run_with(&x, &masks), run_with(&copy, &masks));
                let close = |what: &str, a: &[f32], b: &[f32]| {
                    let worst = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
                    assert!(a.len() == b.len() && worst < 1e-5, "{op} {what} (state masks: {}): largest difference {worst}", masks.states.is_some());
                };
                close("output", &fused, &values);
                for (i, p) in [&k, &u, &bias, &bias2, &h0, &c0].into_iter().enumerate() {
                    if let (Some(a), Some(b)) = (gf.get(p), gp.get(p)) {
                        close(&format!("gradient {i}"), &a.to_vec(), &b.to_vec());
                    }
                }
                let mut by_row = vec![0.0f32; v * d];
                for (pos, g) in gp.get(&copy).unwrap().to_vec().chunks(d).enumerate() {
                    by_row[ids[pos] * d..(ids[pos] + 1) * d].iter_mut().zip(g).for_each(|(a, g)| *a += g);
                }
                close("table gradient", &gf.get(&table).unwrap().to_vec(), &by_row);
                if masks.states.is_none() {
                    plain = values;
                }
            }

            // Input masks: the ordinary path (the masks multiply each row before its projection).
            let masks = RecurrentDropout { inputs: Some(Tensor::new((0..gates * b * d).map(|i| (i % 3) as f32 * 0.75).collect(), &[gates, b, d]).unwrap()), states: None };
            assert_eq!(call(&x, &masks).to_vec(), call(&copy, &masks).to_vec(), "{op} with input masks");
            // A table written after the lookup: the rows keep their numbers, so the lookup is read as a copy.
            table.data_mut()[0] += 1.0;
            assert!(x.table_rows().is_none());
            assert_eq!(run(&x).0, plain, "{op} after the table changed");
        }
    }
}
