//! Optimizer updates, written into the weight and its slots in place: the
//! host loops of each [`Update`] rule, as Keras computes them.

use crate::backend::Update;
use crate::error::{fmt_shape, Error, Result};
use crate::kernels::optim;
use crate::tensor::Tensor;

/// One step of `rule` on weight `w` with gradient `g` and the rule's slots.
pub(crate) fn update(rule: Update, w: &Tensor, slots: &[Tensor], g: &Tensor) -> Result<()> {
    if let Some(t) = std::iter::once(g).chain(slots).find(|t| t.shape() != w.shape()) {
        return Err(Error::shape("update", format!("{rule:?} got a tensor of shape {} for a weight of shape {}", fmt_shape(t.shape()), fmt_shape(w.shape()))));
    }
    // A value that is a view of the weight (or a slot) is read from a copy, not the storage being written.
    let copy = (std::iter::once(w).chain(slots).any(|t| t.shares_storage(g))).then(|| g.detach());
    let g = copy.as_ref().unwrap_or(g).data();
    let mut w = w.data_mut();
    let mut s: Vec<_> = slots.iter().map(|s| s.data_mut()).collect();
    match (rule, &mut s[..]) {
        (Update::Adam(step), [m, v]) => optim::adam(step, &mut w, m, v, None, &g),
        (Update::Adam(step), [m, v, v_hat]) => optim::adam(step, &mut w, m, v, Some(v_hat), &g),
        (Update::Assign, []) => w.copy_from_slice(&g),
        (Update::MovingAverage { momentum: m }, []) => w.iter_mut().zip(g.iter()).for_each(|(w, &v)| *w = *w * m + v * (1.0 - m)),
        (Update::Decay { rate }, []) => w.iter_mut().for_each(|w| *w -= *w * rate),
        (Update::Sgd { learning_rate: lr, .. }, []) => w.iter_mut().zip(g.iter()).for_each(|(w, g)| *w -= lr * g),
        (Update::Sgd { learning_rate: lr, momentum: mu, nesterov }, [m]) => {
            for ((w, m), g) in w.iter_mut().zip(m.iter_mut()).zip(g.iter()) {
                *m = mu * *m - lr * g;
                *w += if nesterov { mu * *m - lr * g } else { *m };
            }
        }
        (Update::Adamax { learning_rate: lr, beta_1: b1, beta_2: b2, epsilon: eps, beta_1_power }, [m, u]) => {
            for i in 0..g.len() {
                m[i] += (g[i] - m[i]) * (1.0 - b1);
                u[i] = (b2 * u[i]).max(g[i].abs());
                w[i] -= lr * m[i] / ((1.0 - beta_1_power) * (u[i] + eps));
            }
        }
        (Update::Nadam { learning_rate: lr, beta_1: b1, beta_2: b2, epsilon: eps, u_t, u_t1, u_prod, u_prod_next, beta_2_power }, [m, v]) => {
            for i in 0..g.len() {
                m[i] += (g[i] - m[i]) * (1.0 - b1);
                v[i] += (g[i] * g[i] - v[i]) * (1.0 - b2);
                let m_hat = u_t1 * m[i] / (1.0 - u_prod_next) + (1.0 - u_t) * g[i] / (1.0 - u_prod);
                let v_hat = v[i] / (1.0 - beta_2_power);
                w[i] -= m_hat * lr / (v_hat.sqrt() + eps);
            }
        }
        (Update::RmsProp { learning_rate: lr, rho, momentum: mu, epsilon: eps, centered }, [v, avg, mom]) => {
            for i in 0..g.len() {
                v[i] = rho * v[i] + (1.0 - rho) * g[i] * g[i];
                let denominator = if centered {
                    avg[i] = rho * avg[i] + (1.0 - rho) * g[i];
                    v[i] - avg[i] * avg[i] + eps
                } else {
                    v[i] + eps
                };
                let increment = lr * g[i] / denominator.sqrt();
                if mu > 0.0 {
                    mom[i] = mu * mom[i] + increment;
                    w[i] -= mom[i];
                } else {
                    w[i] -= increment;
                }
            }
        }
        (Update::Adagrad { learning_rate: lr, epsilon: eps }, [acc]) => {
            for ((w, a), &g) in w.iter_mut().zip(acc.iter_mut()).zip(g.iter()) {
                *a += g * g;
                *w -= lr * g / (*a + eps).sqrt();
            }
        }
        (Update::Adadelta { learning_rate: lr, rho, epsilon: eps }, [ag, adv]) => {
            for i in 0..g.len() {
                ag[i] = rho * ag[i] + (1.0 - rho) * g[i] * g[i];
                let delta = -((adv[i] + eps).sqrt() * g[i]) / (ag[i] + eps).sqrt();
                adv[i] = rho * adv[i] + (1.0 - rho) * delta * delta;
                w[i] += lr * delta;
            }
        }
        (rule, slots) => return Err(Error::argument("update", format!("{rule:?} takes other slots than the {} given", slots.len()))),
    }
    Ok(())
}
