//! The LSTM over a whole sequence. Its units are split into parts of a
//! fixed width ([`PART_UNITS`], whatever the thread count, so the results
//! are the same bits on any number of threads), and each part runs its
//! slice of the four gates on one thread: at each step, the product of the
//! previous state with its columns of the recurrent kernel, then its cells,
//! while the slice of the gates stays in that thread's cache; the steps are
//! stages of a team of threads ([`run_stages`]). Back through time, each
//! part computes its units' share of the previous state's gradient from
//! every part's pre-activation gradients, then runs its cells of the step
//! before backward, and, with no state masks and an embedding's rows as
//! input, adds the step into its share of the weight gradients (the
//! recurrent kernel's once per block of [`SUM_STEPS`] steps). The per-step
//! products run on register tiles where the CPU has them. Rows are
//! step-major (`[time, batch, ...]`); the outputs, each step's `h` and `c`,
//! are batch-major (`[batch, time, units]`). Its buffers come from the pool
//! ([`buffer`]): fresh pages of these sizes cost more than the work.

use std::ops::Range;

use rayon::prelude::*;

use super::gate_dropout::{add_columns, columns, InputSide, StateSide};
use super::table_rows::{Projection, Sequence};
use super::recurrent::weight_grads;
use super::stages::run_stages;
use crate::buffer::{self, Recycled};
use crate::autodiff::{host_grads, MultiOp};
use crate::kernels::fastmath;
use crate::kernels::matmul::{transpose, Gemm};
use crate::kernels::simd::prefetch;
use crate::ops::recurrent::RecurrentDropout;
use crate::tensor::{Data, Tensor};

/// The most units one part runs.
const PART_UNITS: usize = 128;

/// Steps whose weight gradients are added up in one product: each block of
/// this many steps adds its `h_prev^T · dz` to the recurrent kernel's
/// gradient once (fewer passes over that gradient; longer sums in registers).
const SUM_STEPS: usize = 4;

/// The gradient of an output that got none, for a part's units.
static NO_GRADIENT: [f32; PART_UNITS] = [0.0; PART_UNITS];

/// One part's units, its columns of the recurrent kernel and what its steps keep.
struct Part {
    units: Range<usize>,
    /// Its columns of `U`, `[h, 4n]` (gate by gate), and each gate's block `[h, n]` when masked.
    u: Recycled,
    gate_u: Vec<Vec<f32>>,
    /// `U`'s rows of its units, transposed: `[4h, n]`, for the state's gradient.
    u_t: Recycled,
    /// Every step's gates after their activations `[t, b, 4n]`, and cell states `[t + 1, b, n]`.
    gates: Recycled,
    c: Recycled,
    /// Scratch for one step: pre-activations `[b, 4n]` (and their gradients,
    /// `[SUM_STEPS · b, 4n]` when the weight gradients are added up step by
    /// step: a block's steps, see [`Part::dz_rows`]), `h` (and its gradient) `[b, n]`.
    z: Recycled,
    h: Recycled,
    /// The cell state's gradient carried back, `[b, n]`.
    dc: Recycled,
    /// Its weight gradients added up step by step, when they are.
    sums: Option<Sums>,
}

/// A part's weight gradients, added up step by step (back through time):
/// its columns of the recurrent kernel's `du [h, 4n]`, and the input
/// projection's gradient by table row `dp [rows, 4n]`.
struct Sums {
    du: Recycled,
    dp: Recycled,
}

impl Sums {
    fn new(n: usize, h: usize, rows: usize) -> Sums {
        Sums { du: Recycled(buffer::zeros(h * 4 * n)), dp: Recycled(buffer::zeros(rows * 4 * n)) }
    }
}

/// The block of steps (of [`SUM_STEPS`]) that `step` belongs to.
fn block(step: usize, t: usize) -> Range<usize> {
    let start = step - step % SUM_STEPS;
    start..(start + SUM_STEPS).min(t)
}

impl Part {
    fn new(units: Range<usize>, u: &[f32], (b, t, h): (usize, usize, usize), c0: &[f32], masked: bool) -> Part {
        let n = units.len();
        // `part_u` and `u_t` come from the pool: each is written in full below.
        let mut part_u = Recycled(buffer::take(h * 4 * n));
        for (row, u) in part_u.chunks_mut(4 * n).zip(u.chunks(4 * h)) {
            for g in 0..4 {
                row[g * n..(g + 1) * n].copy_from_slice(&u[g * h + units.start..g * h + units.end]);
            }
        }
        let gate_u = if masked { (0..4).map(|g| columns(u, 4 * h, g * h + units.start, n)).collect() } else { Vec::new() };
        let mut u_t = Recycled(buffer::take(4 * h * n));
        transpose(&u[units.start * 4 * h..units.end * 4 * h], n, 4 * h, &mut u_t);
        // Both are written in full, step by step, before they are read.
        let (gates, mut c) = (Recycled(buffer::take(t * b * 4 * n)), Recycled(buffer::take((t + 1) * b * n)));
        c[..b * n].copy_from_slice(&columns(c0, h, units.start, n));
        // The scratch is written before it is read (the gradients' after `fill(0.0)`).
        let scratch = |len| Recycled(buffer::take(len));
        Part { units, u: part_u, gate_u, u_t, gates, c, z: scratch(b * 4 * n), h: scratch(b * n), dc: scratch(b * n), sums: None }
    }

    fn n(&self) -> usize {
        self.units.len()
    }

    /// Adds its weight sums (see [`Sums`]), with room for a block of steps' `dz`.
    fn start_sums(&mut self, (b, h, rows): (usize, usize, usize)) {
        self.sums = Some(Sums::new(self.n(), h, rows));
        self.z = Recycled(buffer::take(SUM_STEPS * b * 4 * self.n()));
    }

    /// Where in `self.z` the backward pass keeps `step`'s pre-activation
    /// gradients `[b, 4n]`: its place in its block when there are sums.
    fn dz_rows(&self, step: usize) -> Range<usize> {
        let size = self.h.len() * 4;
        let at = if self.sums.is_some() { step % SUM_STEPS } else { 0 };
        at * size..(at + 1) * size
    }

    /// One step forward: `xw` the input projection, `prev [b, h]` the state
    /// before the step (or, with dropout, as each gate reads it).
    fn forward(&mut self, step: usize, xw: &Projection, prev: &[f32], read: Option<&[Vec<f32>]>, h: usize) {
        let (n, a) = (self.n(), self.units.start);
        let b = prev.len() / h;
        // The recurrent side's pre-activations; the cells add the input side's.
        match read {
            None => Gemm { m: b, k: h, n: 4 * n, trans_a: false, trans_b: false }.run_small(prev, &self.u, &mut self.z, false),
            Some(read) => {
                self.z[..b * 4 * n].fill(0.0);
                let mut part = vec![0.0f32; b * n];
                for (g, (read, u)) in read.iter().zip(&self.gate_u).enumerate() {
                    Gemm { m: b, k: h, n, trans_a: false, trans_b: false }.run_small(read, u, &mut part, false);
                    add_columns(&mut self.z, 4 * n, g * n, &part);
                }
            }
        }
        let (before, after) = self.c.split_at_mut((step + 1) * b * n);
        let (c_prev, c_next) = (&before[step * b * n..], &mut after[..b * n]);
        let gates = &mut self.gates[step * b * 4 * n..(step + 1) * b * 4 * n];
        for (r, (z, g)) in self.z.chunks(4 * n).zip(gates.chunks_mut(4 * n)).enumerate() {
            let x = xw.row(step, r, (b, 4 * h));
            let x = std::array::from_fn(|g| &x[g * h + a..g * h + a + n]);
            fastmath::lstm_cells(z, x, g, &c_prev[r * n..(r + 1) * n], &mut self.h[r * n..(r + 1) * n], &mut c_next[r * n..(r + 1) * n]);
        }
    }

    /// One step's cells backward, from the outputs' gradients `dy` (of `h`
    /// and of `c`, `[b, t, h]` each, none where an output got none) and the
    /// state's gradient from the step after (`self.h`); leaves the
    /// pre-activations' gradient in `self.z` (at [`Part::dz_rows`]).
    fn cells_backward(&mut self, step: usize, dy: [Option<&[f32]>; 2], (b, t, h): (usize, usize, usize)) {
        let (n, a) = (self.n(), self.units.start);
        let c_prev = &self.c[step * b * n..(step + 1) * b * n];
        let c_now = &self.c[(step + 1) * b * n..(step + 2) * b * n];
        let gates = &self.gates[step * b * 4 * n..(step + 1) * b * 4 * n];
        let rows = self.dz_rows(step);
        let dz = &mut self.z[rows];
        for r in 0..b {
            let (rows, cols) = (r * n..(r + 1) * n, r * 4 * n..(r + 1) * 4 * n);
            // The step before's rows of what this reads, which the next
            // call reads: the outputs' gradients are rows far apart.
            if step > 0 {
                for dy in dy.iter().flatten() {
                    prefetch(&dy[(r * t + step - 1) * h + a..][..n]);
                }
                prefetch(&self.c[(step - 1) * b * n + r * n..][..n]);
                prefetch(&self.gates[(step - 1) * b * 4 * n + r * 4 * n..][..4 * n]);
            }
            fastmath::lstm_cells_backward(&gates[cols.clone()], &c_prev[rows.clone()], &c_now[rows.clone()], grad_row(dy[0], (r * t + step) * h + a, n), grad_row(dy[1], (r * t + step) * h + a, n), &self.h[rows.clone()], &mut self.dc[rows], &mut dz[cols]);
        }
    }

    /// Adds the step's pre-activation gradients (`self.z`) to its sums:
    /// by table row (`ids`, each batch row's) at once, and, at the first
    /// step of a block (the last one back through time), the block's
    /// `h_prev^T · dz` with `states [t + 1, b, h]` the states the steps read.
    fn add_to_sums(&mut self, step: usize, states: &[f32], ids: impl Iterator<Item = usize>, (b, t, h): (usize, usize, usize)) {
        let (width, rows) = (4 * self.n(), self.dz_rows(step));
        let Some(sums) = &mut self.sums else { return };
        for (id, z) in ids.zip(self.z[rows].chunks(width)) {
            sums.dp[id * width..(id + 1) * width].iter_mut().zip(z).for_each(|(a, g)| *a += g);
        }
        let steps = block(step, t);
        if step == steps.start {
            let k = steps.len() * b;
            Gemm { m: h, k, n: width, trans_a: true, trans_b: false }.run_small(&states[step * b * h..(step * b + k) * h], &self.z[..k * width], &mut sums.du, true);
        }
    }

    /// `step`'s pre-activation gradients, as [`Part::cells_backward`] left them.
    fn dz(&self, step: usize) -> &[f32] {
        &self.z[self.dz_rows(step)]
    }

    /// Its units' share of the previous state's gradient, into `self.h`,
    /// from every part's pre-activation gradients `dz [b, 4h]` (with
    /// dropout: each gate's columns `[b, h]` and the state masks `[4, b, h]`).
    fn state_grad(&mut self, dz: &[f32], by_gate: Option<(&[Vec<f32>], &[f32])>, h: usize) {
        let (n, a) = (self.n(), self.units.start);
        let b = dz.len() / (4 * h);
        let Some((dz_gates, masks)) = by_gate else {
            Gemm { m: b, k: 4 * h, n, trans_a: false, trans_b: false }.run_small(dz, &self.u_t, &mut self.h, false);
            return;
        };
        self.h.fill(0.0);
        let mut part = vec![0.0f32; b * n];
        for (g, dz) in dz_gates.iter().enumerate() {
            Gemm { m: b, k: h, n, trans_a: false, trans_b: false }.run_small(dz, &self.u_t[g * h * n..(g + 1) * h * n], &mut part, false);
            let mask = &masks[g * b * h..(g + 1) * b * h];
            for (r, p) in part.chunks(n).enumerate() {
                self.h[r * n..(r + 1) * n].iter_mut().zip(p).zip(&mask[r * h + a..r * h + a + n]).for_each(|((d, p), m)| *d += p * m);
            }
        }
    }
}

/// Copies each part's rows `[rows, gates·n]` (`pick`: its state, its
/// pre-activation gradients, or one of its sums) into its columns of each
/// gate's block of `out [rows, gates·h]` (its first rows).
fn gather_gates(parts: &[Part], pick: impl Fn(&Part) -> &[f32], out: &mut [f32], dims: (usize, usize)) {
    let out = Columns::new(out);
    for p in parts {
        out.write(0, p.units.clone(), pick(p), dims);
    }
}

/// Rows `[rows, gates·h]` that the parts fill at once, from their own
/// threads, each into its own units' columns of every gate's block: no
/// value is written by two parts, and none is read while it may be written
/// (a stage reads only rows that the stages before it wrote).
struct Columns<'a> {
    ptr: *mut f32,
    len: usize,
    _out: std::marker::PhantomData<&'a mut [f32]>,
}

// SAFETY: parts write disjoint columns (see `Columns::write`), and reads
// (`Columns::read`) are of rows that nothing writes meanwhile.
unsafe impl Send for Columns<'_> {}
unsafe impl Sync for Columns<'_> {}

impl<'a> Columns<'a> {
    fn new(out: &'a mut [f32]) -> Self {
        Columns { ptr: out.as_mut_ptr(), len: out.len(), _out: std::marker::PhantomData }
    }

    /// The `len` values from `at`.
    ///
    /// # Safety
    ///
    /// No thread writes them while the slice lives.
    unsafe fn read(&self, at: usize, len: usize) -> &[f32] {
        assert!(at.checked_add(len).is_some_and(|end| end <= self.len), "rows {at}+{len} beyond {}", self.len);
        // SAFETY: in bounds (asserted); unwritten meanwhile (the caller's promise).
        unsafe { std::slice::from_raw_parts(self.ptr.add(at), len) }
    }

    /// Writes the rows `src [rows, gates·n]` of the part with `units` into
    /// its columns of each gate's block, in the rows from value `start`.
    /// Callers give each part its own units, so concurrent calls write
    /// disjoint values, and read (`Columns::read`) no row being written.
    fn write(&self, start: usize, units: Range<usize>, src: &[f32], (gates, h): (usize, usize)) {
        let n = units.len();
        if n == 0 {
            return;
        }
        assert!(units.end <= h && start <= self.len, "units {units:?} beyond {h}, or rows from {start} beyond {}", self.len);
        // Whole rows of both: each write below ends by `start + (r + 1)·gates·h <= self.len`.
        let rows = (src.len() / (gates * n)).min((self.len - start) / (gates * h));
        for r in 0..rows {
            for g in 0..gates {
                let at = start + r * gates * h + g * h + units.start;
                let from = &src[(r * gates + g) * n..(r * gates + g + 1) * n];
                // SAFETY: `at..at + n` lies within row `r` (`units.end <= h`,
                // `r < rows`), and only the part with these units writes them.
                unsafe { std::ptr::copy_nonoverlapping(from.as_ptr(), self.ptr.add(at), n) };
            }
        }
    }
}

/// `n` values of an output's gradient from `at`, or zeros where it got none.
fn grad_row(dy: Option<&[f32]>, at: usize, n: usize) -> &[f32] {
    dy.map_or(&NO_GRADIENT[..n], |dy| &dy[at..at + n])
}

/// [`Tensor::lstm`] on the host, for checked shapes `(batch, time, features, units)`.
pub(crate) fn lstm(input: &Tensor, [kernel, recurrent, bias]: [&Tensor; 3], [h0, c0]: [&Tensor; 2], dropout: &RecurrentDropout, (b, t, d, h): (usize, usize, usize, usize)) -> [Tensor; 2] {
    let w = 4 * h;
    let (inputs_side, u) = (InputSide::new(dropout, b, h), StateSide::new(dropout, buffer::copy_of(&recurrent.data()), (b, h, w), 0));
    let x = Sequence::new(input, &inputs_side, (b, t, d));
    let count = h.div_ceil(PART_UNITS);
    let mut parts: Vec<Part> = (0..count).map(|i| Part::new(i * h / count..(i + 1) * h / count, u.kernel(), (b, t, h), &c0.data(), u.masks().is_some())).collect();
    // Every step's hidden state, from the initial one: `[t + 1, b, h]`.
    let mut states = Recycled(buffer::take((t + 1) * b * h));
    states[..b * h].copy_from_slice(&h0.data());
    let xw = x.projection(&inputs_side, &kernel.data(), &bias.data(), (b, t, d), w);
    {
        let every = Columns::new(&mut states);
        run_stages(&mut parts, t, |p, step| {
            // SAFETY: the stage before wrote these (or they are the initial
            // state), and this stage writes only the step after's.
            let prev = unsafe { every.read(step * b * h, b * h) };
            let read: Option<Vec<Vec<f32>>> = u.masks().map(|_| (0..4).map(|g| u.through_mask(prev, g).into_owned()).collect());
            p.forward(step, &xw, prev, read.as_deref(), h);
            every.write((step + 1) * b * h, p.units.clone(), &p.h, (1, h));
        });
    }
    xw.recycle();
    // The outputs `[b, t, h]`: each step's `h`, and its `c`.
    let (mut hs, mut cs) = (buffer::take(b * t * h), buffer::take(b * t * h));
    hs.par_chunks_mut(h.max(1)).zip(cs.par_chunks_mut(h.max(1))).enumerate().with_min_len(t).for_each(|(i, (hr, cr))| {
        let (r, step) = (i / t, i % t);
        hr.copy_from_slice(&states[((step + 1) * b + r) * h..((step + 1) * b + r + 1) * h]);
        for p in &parts {
            let n = p.n();
            cr[p.units.clone()].copy_from_slice(&p.c[((step + 1) * b + r) * n..((step + 1) * b + r + 1) * n]);
        }
    });
    let inputs = vec![x.graph_input(input), kernel.clone(), recurrent.clone(), bias.clone(), h0.clone(), c0.clone()];
    let parts = std::sync::Mutex::new(parts);
    let backward = move |inputs: &[Tensor], grads: &[Option<Tensor>]| {
        let mut parts = parts.lock().unwrap_or_else(|e| e.into_inner());
        for p in parts.iter_mut() {
            p.h.fill(0.0);
            p.dc.fill(0.0);
        }
        let dy: Vec<Option<Data>> = grads.iter().map(|g| g.as_ref().map(Tensor::data)).collect();
        let dy = [dy[0].as_deref(), dy[1].as_deref()];
        // With no recurrent dropout and an embedding's rows as input, each
        // part adds up its weight gradients step by step (while the step's
        // gradients are in its cache), and only the current step's `dz` is
        // kept (and each part's own, of the steps of its current block);
        // otherwise every step's, for the products at the end.
        let table = u.masks().is_none().then(|| x.table_ids()).flatten();
        if let Some((rows, _)) = table {
            parts.iter_mut().for_each(|p| p.start_sums((b, h, rows)));
        }
        // With the sums, two steps' `dz` (a step's parts read it while they
        // write the step before's).
        let at = |step: usize| if table.is_some() { step % 2 * b * w } else { step * b * w };
        let back = |p: &mut Part, step: usize| {
            p.cells_backward(step, dy, (b, t, h));
            if let Some((_, ids)) = table {
                p.add_to_sums(step, &states, (0..b).map(|r| ids[r * t + step]), (b, t, h));
            }
        };
        // Written in full, step by step. At each stage after the first, each
        // part runs a step's state gradient and the step before's cells: the
        // cells need only the part's own units of the state's gradient.
        let mut dz = Recycled(buffer::take(if table.is_some() { 2 * b * w } else { t * b * w }));
        {
            let every = Columns::new(&mut dz);
            run_stages(&mut parts, t + 1, |p, stage| {
                // The steps whose `dz` this stage reads (every part's), and writes (its own columns).
                let (read, write) = ((stage > 0).then(|| t - stage), (t - stage).checked_sub(1));
                if let Some(step) = read {
                    // SAFETY: the stage before wrote this step's `dz`; this
                    // stage writes only the step before's (another slot).
                    let dz_step = unsafe { every.read(at(step), b * w) };
                    let dz_gates: Option<Vec<Vec<f32>>> = u.masks().map(|_| (0..4).map(|g| columns(dz_step, w, g * h, h)).collect());
                    p.state_grad(dz_step, dz_gates.as_deref().zip(u.masks()), h);
                }
                if let Some(step) = write {
                    back(p, step);
                    every.write(at(step), p.units.clone(), p.dz(step), (4, h));
                }
            });
        }
        // Gathered in full from the parts (pooled: fresh pages cost more than the copies).
        let (mut dh0, mut dc0) = (buffer::take(b * h), buffer::take(b * h));
        gather_gates(&parts, |p| &p.h, &mut dh0, (1, h));
        gather_gates(&parts, |p| &p.dc, &mut dc0, (1, h));
        let [dx, dk, du, db] = match table {
            Some((rows, _)) => {
                let (mut du, mut dp) = (buffer::take(h * w), buffer::take(rows * w));
                gather_gates(&parts, |p| p.sums.as_ref().map_or(&[], |s| &s.du), &mut du, (4, h));
                gather_gates(&parts, |p| p.sums.as_ref().map_or(&[], |s| &s.dp), &mut dp, (4, h));
                let [dtable, dk, db] = x.grads_by_row(&inputs[1].data(), &dp, w).expect("an embedding's rows");
                [dtable, dk, Some(du), db]
            }
            None => weight_grads((&x, &inputs_side, &u), &inputs[1].data(), (&dz, &dz), &states[..t * b * h], (b, t, d, w)),
        };
        host_grads(inputs, vec![dx, dk, du, db, Some(dh0), Some(dc0)])
    };
    let outputs = vec![(hs, vec![b, t, h]), (cs, vec![b, t, h])];
    let [hs, cs]: [Tensor; 2] = Tensor::from_multi_op(outputs, MultiOp::new("lstm", inputs, 2, Box::new(backward))).try_into().expect("two outputs");
    [hs, cs]
}
