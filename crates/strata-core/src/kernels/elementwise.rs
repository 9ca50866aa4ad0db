//! Element-wise maps and fixed-order reductions, parallel when large.
//! Reductions split work into fixed chunks and add the partial sums in order,
//! so results do not depend on thread scheduling (runs are reproducible).

use rayon::prelude::*;

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
            out.iter_mut().zip(&p).for_each(|(a, v)| *a += v);
        }
    } else {
        x.chunks_exact(cols).for_each(|r| out.iter_mut().zip(r).for_each(|(a, v)| *a += v));
    }
    out
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
