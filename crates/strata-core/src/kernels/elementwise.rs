//! Element-wise maps and fixed-order reductions, parallel when large.
//! Reductions split work into fixed chunks and add the partial sums in order,
//! so results do not depend on thread scheduling (runs are reproducible).

use rayon::prelude::*;

use super::simd::multiversion;
use super::fastmath;
use crate::buffer;

const PARALLEL_MIN: usize = 1 << 16;
const CHUNK: usize = 1 << 14;

/// `out[i] = f(x[i])`.
pub fn map(x: &[f32], f: impl Fn(f32) -> f32 + Sync) -> Vec<f32> {
    let mut out = buffer::take(x.len());
    if x.len() >= PARALLEL_MIN {
        out.par_chunks_mut(CHUNK).zip(x.par_chunks(CHUNK)).for_each(|(o, x)| {
            o.iter_mut().zip(x).for_each(|(o, &v)| *o = f(v));
        });
    } else {
        out.iter_mut().zip(x).for_each(|(o, &v)| *o = f(v));
    }
    out
}

/// Whether no value is NaN or infinite: the exponent bits of every value
/// are tested together, so the loop vectorises (input checks run over whole
/// datasets before `fit` and `predict`); chunks are checked in parallel.
pub fn all_finite(x: &[f32]) -> bool {
    const EXPONENT: u32 = 0x7f80_0000;
    let finite = |c: &[f32]| c.iter().fold(0u32, |bad, v| bad | u32::from(v.to_bits() & EXPONENT == EXPONENT)) == 0;
    if x.len() >= PARALLEL_MIN {
        x.par_chunks(CHUNK).all(finite)
    } else {
        finite(x)
    }
}

/// `out[i] = f(a[i], b[i])` for equal-length slices.
pub fn zip_map(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32 + Sync) -> Vec<f32> {
    assert_eq!(a.len(), b.len(), "zip_map lengths");
    let mut out = buffer::take(a.len());
    if a.len() >= PARALLEL_MIN {
        out.par_chunks_mut(CHUNK).zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK))).for_each(|(o, (a, b))| {
            o.iter_mut().zip(a.iter().zip(b)).for_each(|(o, (&x, &y))| *o = f(x, y));
        });
    } else {
        out.iter_mut().zip(a.iter().zip(b)).for_each(|(o, (&x, &y))| *o = f(x, y));
    }
    out
}

/// `out[i] = f(a[i], b[i], c[i])` for equal-length slices.
pub fn zip3_map(a: &[f32], b: &[f32], c: &[f32], f: impl Fn(f32, f32, f32) -> f32 + Sync) -> Vec<f32> {
    assert!(a.len() == b.len() && b.len() == c.len(), "zip3_map lengths");
    let mut out = buffer::take(a.len());
    let run = |o: &mut [f32], a: &[f32], b: &[f32], c: &[f32]| {
        for i in 0..o.len() {
            o[i] = f(a[i], b[i], c[i]);
        }
    };
    if a.len() >= PARALLEL_MIN {
        out.par_chunks_mut(CHUNK).enumerate().for_each(|(i, o)| {
            let r = i * CHUNK..i * CHUNK + o.len();
            run(o, &a[r.clone()], &b[r.clone()], &c[r]);
        });
    } else {
        run(&mut out, a, b, c);
    }
    out
}

/// `dy` where the relu output `y` is positive, else 0: relu's backward pass,
/// for ops that fuse relu into their output.
pub fn relu_mask(dy: &[f32], y: &[f32]) -> Vec<f32> {
    zip_map(dy, y, |d, y| if y > 0.0 { d } else { 0.0 })
}

multiversion! {
    /// `total[i] += part[i]` (the shorter length).
    pub fn add_assign(total: &mut [f32], part: &[f32]) {
        total.iter_mut().zip(part).for_each(|(t, p)| *t += p);
    }
}

/// `parts[0] + parts[1] + ...`, added first to last, returned in the first
/// part's buffer (the others go back to the pool): each value's additions in
/// that order whatever the threads, which share stretches of the values
/// when the parts are long. A part shorter than the first adds to its length.
pub fn add_parts_in_order(mut parts: Vec<Vec<f32>>) -> Option<Vec<f32>> {
    if parts.is_empty() {
        return None;
    }
    let mut total = parts.remove(0);
    let add = |i: usize, stretch: &mut [f32]| parts.iter().for_each(|p| add_assign(stretch, p.get(i * CHUNK..).unwrap_or_default()));
    match total.len() * parts.len() >= PARALLEL_MIN {
        true => total.par_chunks_mut(CHUNK).enumerate().for_each(|(i, t)| add(i, t)),
        false => total.chunks_mut(CHUNK).enumerate().for_each(|(i, t)| add(i, t)),
    }
    parts.into_iter().for_each(buffer::give);
    Some(total)
}

/// Sum of all elements, accumulated in f64 in a fixed order.
pub fn sum(x: &[f32]) -> f64 {
    let partial = |c: &[f32]| c.iter().map(|&v| v as f64).sum::<f64>();
    if x.len() >= PARALLEL_MIN {
        x.par_chunks(CHUNK).map(partial).collect::<Vec<f64>>().iter().sum()
    } else {
        x.chunks(CHUNK).map(partial).sum()
    }
}

/// Column sums of a row-major `[rows, cols]` matrix (bias gradients), in f32
/// with a fixed order.
pub fn sum_rows(x: &[f32], cols: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; cols];
    if cols == 0 {
        return out;
    }
    let rows = x.len() / cols;
    let block = (CHUNK / cols).max(1) * cols;
    if rows * cols >= PARALLEL_MIN {
        let partials: Vec<Vec<f32>> = x
            .par_chunks(block)
            .map(|chunk| {
                let mut acc = vec![0.0f32; cols];
                chunk.chunks_exact(cols).for_each(|r| acc.iter_mut().zip(r).for_each(|(a, v)| *a += v));
                acc
            })
            .collect();
        for p in partials {
            add_assign(&mut out, &p);
        }
    } else {
        x.chunks_exact(cols).for_each(|r| out.iter_mut().zip(r).for_each(|(a, v)| *a += v));
    }
    out
}

/// `values` folded with `f` in 16 lanes (`init` in each), then the lanes
/// and the values past the last 16 folded in order: an order that vectorises.
#[inline(always)]
fn fold_lanes(values: &[f32], init: f32, f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut lanes = [init; 16];
    let chunks = values.chunks_exact(16);
    let tail = chunks.remainder().iter().fold(init, |a, &v| f(a, v));
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane = f(*lane, v);
        }
    }
    lanes.iter().fold(tail, |a, &v| f(a, v))
}

/// `Σ term(a_i, b_i)` in 16 lanes, as [`fold_lanes`].
#[inline(always)]
fn sum_lanes(a: &[f32], b: &[f32], term: impl Fn(f32, f32) -> f32) -> f32 {
    let mut lanes = [0.0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(&a, &b)| term(a, b)).sum();
    for (a, b) in ca.zip(cb) {
        for i in 0..16 {
            lanes[i] += term(a[i], b[i]);
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// The targets of [`softmax_cross_entropy_rows`], a row each.
#[derive(Clone, Copy)]
pub enum Targets<'a> {
    /// Any distribution over the classes, as wide as the logits.
    Values(&'a [f32]),
    /// A class id.
    Labels(&'a [usize]),
}

impl<'a> Targets<'a> {
    /// The targets from row `row` on, of rows `width` wide.
    pub fn from_row(self, row: usize, width: usize) -> Targets<'a> {
        match self {
            Targets::Values(t) => Targets::Values(&t[row * width..]),
            Targets::Labels(labels) => Targets::Labels(&labels[row..]),
        }
    }
}

multiversion! {
    /// Rows of a softmax cross-entropy from logits `z` and targets `t`
    /// (`loss.len()` rows of the same width): writes each row's softmax to
    /// `p` and its loss `Σ -t·(z - max - ln Σ e^(z - max))` to `loss`. The
    /// sums vectorise, and so does `e^x` ([`fastmath::exp_rounded`], as
    /// accurate as libm's): over the whole block in one loop, since a
    /// short row's tail, one value at a time, costs as much as the rest.
    pub fn softmax_cross_entropy_rows(z: &[f32], t: Targets, p: &mut [f32], loss: &mut [f32]) {
        let width = z.len() / loss.len().max(1);
        let (z, p) = (&z[..loss.len() * width], &mut p[..loss.len() * width]);
        // `z - max` of each row (the max kept in `loss` meanwhile), then `e^x` of every value.
        for ((z, p), max) in z.chunks(width).zip(p.chunks_mut(width)).zip(loss.iter_mut()) {
            *max = fold_lanes(z, f32::NEG_INFINITY, f32::max);
            p.iter_mut().zip(z).for_each(|(p, &z)| *p = z - *max);
        }
        p.iter_mut().for_each(|v| *v = fastmath::exp_rounded(*v));
        for (row, ((z, p), loss)) in z.chunks(width).zip(p.chunks_mut(width)).zip(loss.iter_mut()).enumerate() {
            let (max, total) = (*loss, fold_lanes(p, 0.0, |a, v| a + v));
            let log_total = total.ln();
            p.iter_mut().for_each(|p| *p /= total);
            *loss = match t {
                Targets::Values(t) => -sum_lanes(z, &t[row * width..(row + 1) * width], |z, t| t * (z - max - log_total)),
                // The sum above with one-hot targets: its zero terms add nothing.
                Targets::Labels(labels) => -(z[labels[row]] - max - log_total),
            };
        }
    }
}

#[cfg(test)]
mod finite_tests {
    #[test]
    fn all_finite_finds_any_nan_or_infinity() {
        let mut x = vec![1.5f32; (1 << 16) + 7];
        assert!(super::all_finite(&x));
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            for at in [0, 1 << 15, x.len() - 1] {
                x[at] = bad;
                assert!(!super::all_finite(&x) && !super::all_finite(&x[at..]), "{bad} at {at}");
                x[at] = f32::MAX;
            }
        }
        assert!(super::all_finite(&x) && super::all_finite(&[]));
    }
}

#[cfg(test)]
mod softmax_tests {
    use super::*;

    /// Every row length around the 16 lanes (a tail, whole lanes, both),
    /// one-hot and spread targets, large logits, three rows at once: the loss
    /// and softmax within 1e-6 (relative; the softmax's tiny values within
    /// what rounding `z - max` to f32 allows) of the same sums in f64.
    #[test]
    fn softmax_cross_entropy_rows_match_the_definition() {
        let mut rng = crate::rng::Rng::new(9);
        for len in 1..=70 {
            for scale in [1.0f32, 30.0] {
                let z: Vec<f32> = (0..3 * len).map(|_| scale * rng.normal()).collect();
                let one_hot = (0..len).map(|i| if i == len / 3 { 1.0 } else { 0.0 });
                let t: Vec<f32> = one_hot.chain((0..2 * len).map(|_| rng.uniform())).collect();
                let (mut p, mut loss) = (vec![0.0f32; 3 * len], [0.0f32; 3]);
                softmax_cross_entropy_rows(&z, Targets::Values(&t), &mut p, &mut loss);
                let (mut q, mut sparse) = (vec![0.0f32; 3 * len], [0.0f32; 3]);
                softmax_cross_entropy_rows(&z, Targets::Labels(&[len / 3, 0, 0]), &mut q, &mut sparse);
                assert_eq!((p.clone(), sparse[0].to_bits()), (q, loss[0].to_bits()), "a label gives one-hot targets' bits");
                for (((z, t), p), &loss) in z.chunks(len).zip(t.chunks(len)).zip(p.chunks(len)).zip(&loss) {
                    let max = z.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
                    let total: f64 = z.iter().map(|&v| (v as f64 - max).exp()).sum();
                    let want: f64 = z.iter().zip(t).map(|(&v, &t)| -(t as f64) * (v as f64 - max - total.ln())).sum();
                    assert!((loss as f64 - want).abs() <= 1e-6 * want.abs().max(1.0), "length {len}, scale {scale}: loss {loss}, want {want}");
                    for (&p, &v) in p.iter().zip(z) {
                        // `z - max` is rounded to f32 first: e^x's relative error grows with |x|.
                        let (x, want) = (v as f64 - max, (v as f64 - max).exp() / total);
                        assert!((p as f64 - want).abs() <= (1e-6 + 1.2e-7 * x.abs()) * want + 1e-30, "length {len}: p {p}, want {want}");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn parts_add_in_order_with_the_serial_bits() {
        let mut rng = Rng::new(8);
        // Long enough to share among threads (several stretches, the last partial), and short.
        for len in [3 * CHUNK + 17, 100] {
            let parts: Vec<Vec<f32>> = (0..7).map(|_| (0..len).map(|_| rng.normal() * 1e3).collect()).collect();
            let want: Vec<u32> = (0..len).map(|i| parts.iter().map(|p| p[i]).reduce(|a, b| a + b).unwrap().to_bits()).collect();
            let got = add_parts_in_order(parts).unwrap();
            assert_eq!(got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want, "{len} values");
        }
        assert!(add_parts_in_order(Vec::new()).is_none());
    }
}
