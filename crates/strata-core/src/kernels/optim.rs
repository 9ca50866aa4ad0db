//! Optimizer updates over whole weight tensors, vectorised for the CPU at
//! hand and split over threads when large. Each element's arithmetic is the
//! same in every split, so results never depend on the threads.

use rayon::prelude::*;

use super::simd::multiversion;

/// Below this many weights, one thread does the update.
const PARALLEL_MIN: usize = 1 << 15;
const CHUNK: usize = 1 << 13;

/// Adam's constants for one step: `alpha` is the bias-corrected learning rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamStep {
    /// The learning rate times Adam's bias correction for this step.
    pub alpha: f32,
    /// Decay of the first moment `m` (Keras's default 0.9).
    pub beta_1: f32,
    /// Decay of the second moment `v` (Keras's default 0.999).
    pub beta_2: f32,
    /// Added to `√v` in the denominator (Keras's default 1e-7).
    pub epsilon: f32,
}

/// One Adam step, as Keras computes it: `m += (g - m)(1 - b1)`,
/// `v += (g² - v)(1 - b2)`, `w -= alpha m / (sqrt(v) + eps)`; with
/// `v_hat` (AMSGrad), `v_hat = max(v_hat, v)` takes `v`'s place in the last step.
pub fn adam(s: AdamStep, w: &mut [f32], m: &mut [f32], v: &mut [f32], v_hat: Option<&mut [f32]>, g: &[f32]) {
    assert!(w.len() == g.len() && m.len() == g.len() && v.len() == g.len(), "adam: slot sizes differ");
    let mut v_hat = v_hat;
    if let Some(h) = &v_hat {
        assert_eq!(h.len(), g.len(), "adam: v_hat size");
    }
    if g.len() < PARALLEL_MIN {
        adam_chunk(s, w, m, v, v_hat.as_deref_mut().unwrap_or(&mut []), g);
        return;
    }
    let parts = w.par_chunks_mut(CHUNK).zip(m.par_chunks_mut(CHUNK)).zip(v.par_chunks_mut(CHUNK)).zip(g.par_chunks(CHUNK));
    match v_hat {
        Some(h) => parts.zip(h.par_chunks_mut(CHUNK)).for_each(|((((w, m), v), g), h)| adam_chunk(s, w, m, v, h, g)),
        None => parts.for_each(|(((w, m), v), g)| adam_chunk(s, w, m, v, &mut [], g)),
    }
}

multiversion! {
    /// [`adam`] on one chunk; `v_hat` empty without AMSGrad.
    fn adam_chunk(s: AdamStep, w: &mut [f32], m: &mut [f32], v: &mut [f32], v_hat: &mut [f32], g: &[f32]) {
        let AdamStep { alpha, beta_1, beta_2, epsilon } = s;
        let (c1, c2) = (1.0 - beta_1, 1.0 - beta_2);
        if v_hat.is_empty() {
            for (((w, m), v), &g) in w.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
                *m += (g - *m) * c1;
                *v += (g * g - *v) * c2;
                *w -= alpha * *m / (v.sqrt() + epsilon);
            }
        } else {
            for ((((w, m), v), h), &g) in w.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(v_hat.iter_mut()).zip(g) {
                *m += (g - *m) * c1;
                *v += (g * g - *v) * c2;
                *h = h.max(*v);
                *w -= alpha * *m / (h.sqrt() + epsilon);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn matches_the_scalar_formula_at_every_size() {
        let mut rng = Rng::new(8);
        let s = AdamStep { alpha: 0.01, beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7 };
        for len in [1, 17, PARALLEL_MIN + 5] {
            for ams in [false, true] {
                let mut vals = |_| -> Vec<f32> { (0..len).map(|_| rng.normal()).collect() };
                let (w0, m0, g) = (vals(0), vals(1), vals(2));
                let v0: Vec<f32> = (0..len).map(|i| (i % 5) as f32 * 0.1).collect();
                let h0: Vec<f32> = (0..len).map(|i| (i % 3) as f32 * 0.1).collect();
                let (mut w, mut m, mut v, mut h) = (w0.clone(), m0.clone(), v0.clone(), h0.clone());
                adam(s, &mut w, &mut m, &mut v, ams.then_some(&mut h[..]), &g);
                for i in 0..len {
                    let mi = m0[i] + (g[i] - m0[i]) * (1.0 - s.beta_1);
                    let vi = v0[i] + (g[i] * g[i] - v0[i]) * (1.0 - s.beta_2);
                    let d = if ams { h0[i].max(vi) } else { vi };
                    let wi = w0[i] - s.alpha * mi / (d.sqrt() + s.epsilon);
                    assert_eq!((w[i], m[i], v[i]), (wi, mi, vi), "len {len} amsgrad {ams} [{i}]");
                }
            }
        }
    }
}
