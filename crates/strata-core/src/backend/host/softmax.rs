//! Softmax and log-softmax along any axis, computed stably (max subtracted).

use crate::autodiff::GradFn;
use crate::buffer;
use crate::tensor::Tensor;

use super::reduce::split_at_axis;

/// Applies `f(lane_in, lane_out)` to every 1-D lane along the axis split (outer, len, inner).
fn for_each_lane(x: &[f32], out: &mut [f32], (outer, len, inner): (usize, usize, usize), f: impl Fn(&[f32], &mut [f32])) {
    if inner == 1 {
        x.chunks_exact(len).zip(out.chunks_exact_mut(len)).for_each(|(x, o)| f(x, o));
        return;
    }
    let (mut lane, mut res) = (vec![0.0; len], vec![0.0; len]);
    for o in 0..outer {
        for i in 0..inner {
            for a in 0..len {
                lane[a] = x[(o * len + a) * inner + i];
            }
            f(&lane, &mut res);
            for a in 0..len {
                out[(o * len + a) * inner + i] = res[a];
            }
        }
    }
}

fn softmax_lane(x: &[f32], out: &mut [f32]) {
    let max = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut total = 0.0f32;
    for (o, &v) in out.iter_mut().zip(x) {
        *o = (v - max).exp();
        total += *o;
    }
    out.iter_mut().for_each(|o| *o /= total);
}

fn log_softmax_lane(x: &[f32], out: &mut [f32]) {
    let max = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let log_total = x.iter().map(|&v| (v - max).exp()).sum::<f32>().ln();
    out.iter_mut().zip(x).for_each(|(o, &v)| *o = v - max - log_total);
}

/// `Σ values` of each lane, written to every position of that lane.
fn lane_sums(values: &[f32], split: (usize, usize, usize)) -> Vec<f32> {
    let mut sums = buffer::take(values.len());
    for_each_lane(values, &mut sums, split, |v, out| {
        let s: f32 = v.iter().sum();
        out.iter_mut().for_each(|o| *o = s);
    });
    sums
}

/// Softmax (or log-softmax when `log`) along `axis`. A softmax along the
/// last axis remembers its logits, so that a cross-entropy loss can take
/// the fused, stable path.
pub(crate) fn softmax(x: &Tensor, axis: usize, log: bool) -> Tensor {
    let split = split_at_axis(x.shape(), axis);
    let mut y = buffer::take(x.numel());
    for_each_lane(&x.data(), &mut y, split, if log { log_softmax_lane } else { softmax_lane });
    if log {
        let backward = move |_: &[Tensor], y: &[f32], g: &[f32]| {
            // dx = g - softmax · Σ g along the axis.
            let mut gx = lane_sums(g, split);
            gx.iter_mut().zip(g.iter().zip(y)).for_each(|(s, (g, y))| *s = g - y.exp() * *s);
            vec![Some(gx)]
        };
        return Tensor::from_op(y, x.shape().to_vec(), GradFn::host("log_softmax", vec![x.clone()], backward));
    }
    let backward = move |_: &[Tensor], y: &[f32], g: &[f32]| {
        // dx = y · (g - Σ g·y) along the axis.
        let gy: Vec<f32> = g.iter().zip(y).map(|(g, y)| g * y).collect();
        let mut gx = lane_sums(&gy, split);
        gx.iter_mut().zip(g.iter().zip(y)).for_each(|(s, (g, y))| *s = y * (g - *s));
        vec![Some(gx)]
    };
    let logits = (axis + 1 == x.rank()).then(|| x.clone());
    Tensor::from_op_with_logits(y, x.shape().to_vec(), GradFn::host("softmax", vec![x.clone()], backward), logits)
}
