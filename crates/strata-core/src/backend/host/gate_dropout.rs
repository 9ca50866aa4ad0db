//! The two matrix products of a recurrent op, with Keras 3's dropout inside
//! them when the op is given masks (`recurrent_dropout`, and with it
//! `dropout` per gate): each gate's input projection reads the input times
//! that gate's mask, and each gate's recurrent product reads the previous
//! state times its own. Masks are per sample, the same at every step; rows
//! are step-major (`[time, batch, ...]`), so row `r` reads mask row `r % batch`.
//! Without masks each side is one product over all the gates.

use std::borrow::Cow;

use crate::buffer::{self, Recycled};
use crate::kernels::matmul::Gemm;
use crate::ops::recurrent::RecurrentDropout;
use crate::tensor::Tensor;

/// Rows `[rows, n]` times the per-sample mask `[batch, n]` (row `r` by mask row `r % batch`).
fn masked(x: &[f32], mask: &[f32], n: usize) -> Vec<f32> {
    x.chunks(n.max(1)).zip(mask.chunks(n.max(1)).cycle()).flat_map(|(row, m)| row.iter().zip(m).map(|(a, b)| a * b)).collect()
}

/// Columns `from..from + n` of a `[rows, cols]` matrix, as `[rows, n]`.
pub(super) fn columns(x: &[f32], cols: usize, from: usize, n: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(x.len() / cols.max(1) * n);
    x.chunks(cols.max(1)).for_each(|row| out.extend_from_slice(&row[from..from + n]));
    out
}

/// Adds `part [rows, n]` into columns `from..from + n` of `out [rows, cols]`.
pub(super) fn add_columns(out: &mut [f32], cols: usize, from: usize, part: &[f32]) {
    let n = part.len() / (out.len() / cols.max(1)).max(1);
    for (row, add) in out.chunks_mut(cols.max(1)).zip(part.chunks(n.max(1))) {
        row[from..from + n].iter_mut().zip(add).for_each(|(a, b)| *a += b);
    }
}

/// The input side: `x [rows, d] · kernel [d, gates·h]`, each gate's
/// columns reading `x` through its mask when there are masks.
pub(super) struct InputSide {
    masks: Option<Vec<f32>>,
    batch: usize,
    /// Units per gate.
    h: usize,
}

impl InputSide {
    pub(super) fn new(dropout: &RecurrentDropout, batch: usize, h: usize) -> InputSide {
        InputSide { masks: dropout.inputs.as_ref().map(Tensor::to_vec), batch, h }
    }

    /// Whether each gate reads the input through its own mask.
    pub(super) fn masked(&self) -> bool {
        self.masks.is_some()
    }

    /// Gate `g`'s copy of `x [rows, d]` through its mask of `masks`.
    fn input(&self, masks: &[f32], x: &[f32], d: usize, g: usize) -> Vec<f32> {
        masked(x, &masks[g * self.batch * d..(g + 1) * self.batch * d], d)
    }

    /// `x · kernel + bias` for every row: `[rows, width]`.
    pub(super) fn project(&self, x: &[f32], kernel: &[f32], bias: &[f32], rows: usize, d: usize, width: usize) -> Vec<f32> {
        let mut out = buffer::take(rows * width);
        out.chunks_mut(width.max(1)).for_each(|row| row.copy_from_slice(bias));
        let Some(masks) = &self.masks else {
            Gemm { m: rows, k: d, n: width, trans_a: false, trans_b: false }.run(x, kernel, &mut out, true);
            return out;
        };
        let h = self.h;
        let mut part = vec![0.0f32; rows * h];
        for g in 0..width / h {
            Gemm { m: rows, k: d, n: h, trans_a: false, trans_b: false }.run(&self.input(masks, x, d, g), &columns(kernel, width, g * h, h), &mut part, false);
            add_columns(&mut out, width, g * h, &part);
        }
        out
    }

    /// The gradients of `x` and of the kernel from the projection's `dz [rows, width]`.
    pub(super) fn grads(&self, x: &[f32], kernel: &[f32], dz: &[f32], rows: usize, d: usize, width: usize) -> [Vec<f32>; 2] {
        let (mut dx, mut dk) = (vec![0.0f32; rows * d], vec![0.0f32; d * width]);
        let Some(masks) = &self.masks else {
            Gemm { m: rows, k: width, n: d, trans_a: false, trans_b: true }.run(dz, kernel, &mut dx, false);
            Gemm { m: d, k: rows, n: width, trans_a: true, trans_b: false }.run(x, dz, &mut dk, false);
            return [dx, dk];
        };
        let (h, b) = (self.h, self.batch);
        let (mut dxg, mut dkg) = (vec![0.0f32; rows * d], vec![0.0f32; d * h]);
        for g in 0..width / h {
            let dzg = columns(dz, width, g * h, h);
            Gemm { m: rows, k: h, n: d, trans_a: false, trans_b: true }.run(&dzg, &columns(kernel, width, g * h, h), &mut dxg, false);
            dx.iter_mut().zip(masked(&dxg, &masks[g * b * d..(g + 1) * b * d], d)).for_each(|(a, v)| *a += v);
            Gemm { m: d, k: rows, n: h, trans_a: true, trans_b: false }.run(&self.input(masks, x, d, g), &dzg, &mut dkg, false);
            add_columns(&mut dk, width, g * h, &dkg);
        }
        [dx, dk]
    }
}

/// The recurrent side: `h_prev [batch, h] · U [h, width]` at each step,
/// each gate's columns reading `h_prev` through its mask when there are masks.
pub(super) struct StateSide {
    masks: Option<Vec<f32>>,
    batch: usize,
    h: usize,
    width: usize,
    u: Recycled,
    /// Each gate's columns of `U`, `[h, h]`, when masked.
    gate_u: Vec<Vec<f32>>,
}

impl StateSide {
    /// For `U [h, width]` of `width / h` gates; `first_gate` is the mask of its first column block.
    pub(super) fn new(dropout: &RecurrentDropout, u: Vec<f32>, (batch, h, width): (usize, usize, usize), first_gate: usize) -> StateSide {
        let masks = dropout.states.as_ref().map(Tensor::to_vec).map(|m| m[first_gate * batch * h..(first_gate + width / h) * batch * h].to_vec());
        let gate_u = match masks {
            Some(_) => (0..width / h).map(|g| columns(&u, width, g * h, h)).collect(),
            None => Vec::new(),
        };
        StateSide { masks, batch, h, width, u: Recycled(u), gate_u }
    }

    /// The kernel, `[h, width]`.
    pub(super) fn kernel(&self) -> &[f32] {
        &self.u
    }

    /// The masks, `[gates, batch, h]`, if any.
    pub(super) fn masks(&self) -> Option<&[f32]> {
        self.masks.as_deref()
    }

    /// Gate `g`'s part `[batch, h]` of masks `[gates, batch, h]`.
    fn gate<'a>(&self, masks: &'a [f32], g: usize) -> &'a [f32] {
        let n = self.batch * self.h;
        &masks[g * n..(g + 1) * n]
    }

    /// `out [batch, width] (+)= h_prev · U`.
    pub(super) fn forward(&self, prev: &[f32], out: &mut [f32], accumulate: bool) {
        let (b, h, width) = (self.batch, self.h, self.width);
        let Some(masks) = &self.masks else {
            Gemm { m: b, k: h, n: width, trans_a: false, trans_b: false }.run_small_parallel(prev, &self.u, out, accumulate);
            return;
        };
        if !accumulate {
            out.fill(0.0);
        }
        let mut part = vec![0.0f32; b * h];
        for (g, u) in self.gate_u.iter().enumerate() {
            Gemm { m: b, k: h, n: h, trans_a: false, trans_b: false }.run(&masked(prev, self.gate(masks, g), h), u, &mut part, false);
            add_columns(out, width, g * h, &part);
        }
    }

    /// `dprev [batch, h] (+)= dz · Uᵀ`, each gate's part through its mask;
    /// `u_t` is `U` transposed, `[width, h]`.
    pub(super) fn backward(&self, u_t: &[f32], dz: &[f32], dprev: &mut [f32], accumulate: bool) {
        let (b, h, width) = (self.batch, self.h, self.width);
        let Some(masks) = &self.masks else {
            Gemm { m: b, k: width, n: h, trans_a: false, trans_b: false }.run_small_parallel(dz, u_t, dprev, accumulate);
            return;
        };
        if !accumulate {
            dprev.fill(0.0);
        }
        let mut part = vec![0.0f32; b * h];
        for g in 0..width / h {
            Gemm { m: b, k: h, n: h, trans_a: false, trans_b: false }.run(&columns(dz, width, g * h, h), &u_t[g * h * h..(g + 1) * h * h], &mut part, false);
            dprev.iter_mut().zip(masked(&part, self.gate(masks, g), h)).for_each(|(a, v)| *a += v);
        }
    }

    /// The kernel's gradient from every step's previous states `[rows, h]` and `dz [rows, width]`.
    pub(super) fn kernel_grad(&self, states: &[f32], dz: &[f32], rows: usize) -> Vec<f32> {
        let (h, width) = (self.h, self.width);
        let mut du = vec![0.0f32; h * width];
        let Some(masks) = &self.masks else {
            Gemm { m: h, k: rows, n: width, trans_a: true, trans_b: false }.run(states, dz, &mut du, false);
            return du;
        };
        let mut part = vec![0.0f32; h * h];
        for g in 0..width / h {
            Gemm { m: h, k: rows, n: h, trans_a: true, trans_b: false }.run(&masked(states, self.gate(masks, g), h), &columns(dz, width, g * h, h), &mut part, false);
            add_columns(&mut du, width, g * h, &part);
        }
        du
    }

    /// `x [rows, h]` times gate `g`'s mask (`x` itself without masks).
    pub(super) fn through_mask<'a>(&self, x: &'a [f32], g: usize) -> Cow<'a, [f32]> {
        match &self.masks {
            Some(masks) => Cow::Owned(masked(x, self.gate(masks, g), self.h)),
            None => Cow::Borrowed(x),
        }
    }
}
