//! `exp`, `sigmoid` and `tanh` without branches or library calls, so loops
//! over them vectorise (libm's `expf`/`tanhf` are scalar calls: 3 sigmoids
//! and 2 tanh per LSTM cell cost about 65 ns, more than the cell's share of
//! the recurrent product). Cephes' single-precision forms: `exp` within
//! 2 ulp on its range, `sigmoid` and `tanh` within 3e-7 relative.
//! The recurrent cells' loops use them, compiled per instruction set. The
//! loss uses [`exp_rounded`], as accurate as libm's `expf`.

use super::simd::multiversion;

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 in two parts, so `x - n ln 2` loses nothing.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// The range where `exp` and its power of two are normal floats (beyond, inputs are clamped).
const EXP_MAX: f32 = 88.0;
const EXP_MIN: f32 = -87.336_55;
const ROUND: f32 = 12_582_912.0;

/// `e^x`, clamped to `[e^-87.3, e^88]` (no infinities, no subnormals).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = x.clamp(EXP_MIN, EXP_MAX);
    // Round to the nearest whole number by adding and subtracting 1.5 x 2^23
    // (no call to floor); the sum's low mantissa bits then hold that number,
    // so 2^n comes from its bits without a float-to-integer conversion.
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r + 1.666_666_5e-1) * r + 5e-1;
    let e = p * r * r + r + 1.0;
    e * f32::from_bits(shifted.to_bits().wrapping_sub(ROUND.to_bits()).wrapping_add(127) << 23)
}

/// `e^x` worked out in double precision and rounded once to `f32`: within
/// about half an ulp, as libm's `expf` (whose results it matches but for a
/// rare last bit), 0 and infinity where the `f32` result is, and it
/// vectorises. For a loss, whose softmax trains many steps: the 2-ulp
/// [`exp`]'s rounding noise took a headline CNN trained on 4 processes 8e-2
/// away from 1 process in 10 steps (`strata-cli/tests/mpi.rs`).
#[inline(always)]
pub fn exp_rounded(x: f32) -> f32 {
    const LN2_HI: f64 = 6.931_471_803_691_238e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    const ROUND: f64 = 6_755_399_441_055_744.0; // 1.5 x 2^52
    // Beyond these the rounded result is 0 or infinity (NaN stays NaN).
    let x = (x as f64).clamp(-104.0, 89.0);
    let shifted = x * std::f64::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    // e^r for |r| <= ln 2 / 2 by its Taylor series to r^9 (error below 1e-11).
    let mut p = 1.0 / 362_880.0;
    for c in [1.0 / 40_320.0, 1.0 / 5_040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
        p = p * r + c;
    }
    let two_n = f64::from_bits(shifted.to_bits().wrapping_sub(ROUND.to_bits()).wrapping_add(1023) << 52);
    (p * two_n) as f32
}

/// `1 / (1 + e^-x)`.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// The hyperbolic tangent: a polynomial below 0.625 in magnitude (where
/// `1 - 2 / (e^2x + 1)` would cancel), that form above.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let a = x.abs();
    let z = x * x;
    let small = ((((-5.704_988_7e-3 * z + 2.063_909e-2) * z - 5.373_971_6e-2) * z + 1.333_144_2e-1) * z - 3.333_328e-1) * z * x + x;
    let large = (1.0 - 2.0 / (exp(2.0 * a) + 1.0)).copysign(x);
    if a < 0.625 { small } else { large }
}

multiversion! {
    /// One row of LSTM cells (`n` of them): `z` the recurrent side's
    /// pre-activations `[i, f, c, o]` (each `n` long) and `x` the input
    /// side's, gate by gate, `c_prev` the cell states before the step;
    /// writes the gates after their activations to `gates` and the states
    /// after the step to `h_next` and `c_next`.
    pub fn lstm_cells(z: &[f32], x: [&[f32]; 4], gates: &mut [f32], c_prev: &[f32], h_next: &mut [f32], c_next: &mut [f32]) {
        let n = c_prev.len();
        // One loop per gate: each vectorises with few live registers.
        let (z, gates) = (&z[..4 * n], &mut gates[..4 * n]);
        for (g, x) in x.iter().enumerate() {
            let (gate, z, x) = (&mut gates[g * n..(g + 1) * n], &z[g * n..(g + 1) * n], &x[..n]);
            if g == 2 {
                gate.iter_mut().zip(z).zip(x).for_each(|((a, &z), &x)| *a = tanh(z + x));
            } else {
                gate.iter_mut().zip(z).zip(x).for_each(|((a, &z), &x)| *a = sigmoid(z + x));
            }
        }
        let (i, rest) = gates.split_at(n);
        let (f, rest) = rest.split_at(n);
        let (c_hat, o) = rest.split_at(n);
        for ((((c, &cp), &i), &f), &c_hat) in c_next[..n].iter_mut().zip(c_prev).zip(i).zip(f).zip(c_hat) {
            *c = f * cp + i * c_hat;
        }
        for ((h, &c), &o) in h_next[..n].iter_mut().zip(&c_next[..n]).zip(o) {
            *h = o * tanh(c);
        }
    }
}

multiversion! {
    /// One row of the LSTM cells' step backward: from the gates kept by
    /// [`lstm_cells`], the cell states before (`c_prev`) and after (`c_now`)
    /// the step, the gradients reaching `h` and `c` after the step from the
    /// output (`dy_h`, `dy_c`) and from the next step (`dh_next`,
    /// `dc_next`), writes the gradient of the pre-activations to `dz` and
    /// replaces `dc_next` with the gradient of the cell state before the step.
    pub fn lstm_cells_backward(gates: &[f32], c_prev: &[f32], c_now: &[f32], dy_h: &[f32], dy_c: &[f32], dh_next: &[f32], dc_next: &mut [f32], dz: &mut [f32]) {
        let n = dh_next.len();
        // tanh(c) first, in its own loop (it vectorises there), held in the
        // output gate's slot of `dz` until that slot's gradient replaces it.
        dz[3 * n..].iter_mut().zip(c_now).for_each(|(t, &c)| *t = tanh(c));
        for j in 0..n {
            let (i, f, c_hat, o) = (gates[j], gates[n + j], gates[2 * n + j], gates[3 * n + j]);
            let tc = dz[3 * n + j];
            let dh = dy_h[j] + dh_next[j];
            let dc = dy_c[j] + dc_next[j] + dh * o * (1.0 - tc * tc);
            dz[j] = dc * c_hat * i * (1.0 - i);
            dz[n + j] = dc * c_prev[j] * f * (1.0 - f);
            dz[2 * n + j] = dc * i * (1.0 - c_hat * c_hat);
            dz[3 * n + j] = dh * tc * o * (1.0 - o);
            dc_next[j] = dc * f;
        }
    }
}

multiversion! {
    /// One row of GRU cells (`h` of them, Keras's `reset_after=True`): `x`
    /// and `r` the input and recurrent sides' pre-activations `[z, r, h~]`
    /// (each `h` long, biases added), `prev` the state before the step;
    /// writes the gates `[z, r, candidate]` to `gates`, the recurrent part
    /// of the candidate before the reset gate to `kept`, and the state after
    /// the step to `next`.
    pub fn gru_cells(x: &[f32], r: &[f32], gates: &mut [f32], kept: &mut [f32], prev: &[f32], next: &mut [f32]) {
        let h = prev.len();
        let (x, r, gates, kept, next) = (&x[..3 * h], &r[..3 * h], &mut gates[..3 * h], &mut kept[..h], &mut next[..h]);
        // One loop per quantity: each vectorises with few live registers.
        gates[..2 * h].iter_mut().zip(x[..2 * h].iter().zip(&r[..2 * h])).for_each(|(g, (&x, &r))| *g = sigmoid(x + r));
        kept.copy_from_slice(&r[2 * h..]);
        let (zr, cand) = gates.split_at_mut(2 * h);
        for (((c, &x), &k), &reset) in cand.iter_mut().zip(&x[2 * h..]).zip(&*kept).zip(&zr[h..]) {
            *c = tanh(x + reset * k);
        }
        for (((n, &z), &c), &p) in next.iter_mut().zip(&zr[..h]).zip(&*cand).zip(prev) {
            *n = z * p + (1.0 - z) * c;
        }
    }
}

multiversion! {
    /// One row of the GRU cells' step backward, from the gates and `kept`
    /// of [`gru_cells`], the state before the step, the output's gradient
    /// `dy` and the state's from the step after (`dh_next`): writes the
    /// input and recurrent sides' pre-activation gradients to `dx` and `dr`
    /// and replaces `dh_next` with the part of the state's gradient that
    /// does not go through the recurrent product.
    pub fn gru_cells_backward(gates: &[f32], kept: &[f32], prev: &[f32], dy: &[f32], dh_next: &mut [f32], dx: &mut [f32], dr: &mut [f32]) {
        let h = prev.len();
        let (gates, kept, dy, dh_next, dx, dr) = (&gates[..3 * h], &kept[..h], &dy[..h], &mut dh_next[..h], &mut dx[..3 * h], &mut dr[..3 * h]);
        for j in 0..h {
            let (z, r, cand) = (gates[j], gates[h + j], gates[2 * h + j]);
            let dh = dy[j] + dh_next[j];
            let da_h = dh * (1.0 - z) * (1.0 - cand * cand);
            let da_z = dh * (prev[j] - cand) * z * (1.0 - z);
            let da_r = da_h * kept[j] * r * (1.0 - r);
            (dx[j], dx[h + j], dx[2 * h + j]) = (da_z, da_r, da_h);
            (dr[j], dr[h + j], dr[2 * h + j]) = (da_z, da_r, da_h * r);
            dh_next[j] = dh * z;
        }
    }
}

multiversion! {
    /// `tanh` of every value, in place.
    pub fn tanh_in_place(v: &mut [f32]) {
        v.iter_mut().for_each(|x| *x = tanh(*x));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sweep() -> impl Iterator<Item = f32> {
        (-200_000..=200_000).map(|i| i as f32 * 4.4e-4)
    }

    #[test]
    fn exp_rounded_is_libms_but_for_rare_last_bits() {
        let (mut differ, mut count) = (0, 0);
        for x in sweep().chain([-103.0, -104.5, -1000.0, 88.7, 88.8, 1000.0, 0.0, -0.0, f32::NEG_INFINITY, f32::INFINITY]) {
            let (got, want) = (exp_rounded(x), x.exp());
            count += 1;
            if got.to_bits() != want.to_bits() {
                differ += 1;
                assert!(want.is_normal() && got.to_bits().abs_diff(want.to_bits()) == 1, "exp_rounded({x}) = {got}, libm {want}");
            }
        }
        assert!(differ * 1000 < count, "{differ} of {count} differ from libm in the last bit");
        assert!(exp_rounded(f32::NAN).is_nan());
    }

    #[test]
    fn exp_is_within_two_ulp_of_libm() {
        for x in sweep().filter(|x| (EXP_MIN..=EXP_MAX).contains(x)).chain([-87.0, 88.0, 0.0, -0.0, 1e-30]) {
            let (got, want) = (exp(x), x.exp());
            assert!(((got - want) / want).abs() <= 2.5e-7, "exp({x}) = {got}, libm {want}");
        }
        assert!(exp(-1000.0) > 0.0 && exp(-1000.0) < 1e-37 && exp(1000.0).is_finite());
    }

    #[test]
    fn sigmoid_and_tanh_are_within_3e_7_of_the_exact_values() {
        for x in sweep().chain([1e-8, -1e-8, 0.625, -0.625, 0.624_999_9, 30.0, -30.0, 100.0]) {
            let s = 1.0 / (1.0 + (-x as f64).exp());
            assert!((sigmoid(x) as f64 - s).abs() <= 3e-7 * s + 1e-30, "sigmoid({x}) = {}, exact {s}", sigmoid(x));
            let t = (x as f64).tanh();
            assert!((tanh(x) as f64 - t).abs() <= 3e-7 * t.abs().max(1e-6), "tanh({x}) = {}, exact {t}", tanh(x));
        }
        assert_eq!(tanh(0.0), 0.0);
        assert_eq!(tanh(-100.0), -1.0);
    }
}
