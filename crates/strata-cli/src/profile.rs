//! The per-layer profile table printed by `strata train --profile` and `strata bench`.

use serde_json::{json, Value};
use strata::core::profile::{Entry, Phase};

/// Milliseconds per step of each scope (layers in model order, then loss and optimizer).
pub struct Profile {
    pub rows: Vec<(String, f64, f64)>,
}

impl Profile {
    /// Folds raw timings into rows for `layers` (in model order), per step of
    /// `steps`. A layer fused with the next one (a relu `Conv2D` and its
    /// `MaxPooling2D`) is timed as one scope, `"conv2d + max_pooling2d"`, and gets one row.
    pub fn new(entries: &[Entry], layers: &[String], steps: usize) -> Profile {
        let ms = |scope: &str, phase: Phase| {
            // `+ 0.0` turns the empty sum's -0.0 into 0.0.
            let total: f64 = entries.iter().filter(|e| e.scope == scope && e.phase == phase).map(|e| e.total.as_secs_f64()).sum::<f64>() + 0.0;
            total * 1000.0 / steps.max(1) as f64
        };
        let mut names = Vec::new();
        let mut i = 0;
        while i < layers.len() {
            let fused = layers.get(i + 1).map(|next| format!("{} + {next}", layers[i])).filter(|s| entries.iter().any(|e| &e.scope == s));
            i += if fused.is_some() { 2 } else { 1 };
            names.push(fused.unwrap_or_else(|| layers[i - 1].clone()));
        }
        names.extend(["loss".to_string(), "optimizer".to_string()]);
        let rows = names
            .into_iter()
            .map(|n| {
                let fwd = ms(&n, Phase::Forward) + ms(&n, Phase::Update);
                let bwd = ms(&n, Phase::Backward);
                (n, fwd, bwd)
            })
            .collect();
        Profile { rows }
    }

    pub fn table(&self) -> String {
        let total: f64 = self.rows.iter().map(|r| r.1 + r.2).sum::<f64>().max(1e-12);
        let mut s = format!("{:<32} {:>12} {:>13} {:>7}\n", "layer", "forward ms", "backward ms", "share");
        for (name, f, b) in &self.rows {
            s += &format!("{name:<32} {f:>12.3} {b:>13.3} {:>6.1}%\n", 100.0 * (f + b) / total);
        }
        s += &format!("{:<32} {:>12.3} {:>13.3}   (per step)\n", "total", self.rows.iter().map(|r| r.1).sum::<f64>(), self.rows.iter().map(|r| r.2).sum::<f64>());
        s
    }

    pub fn json(&self) -> Value {
        Value::Array(self.rows.iter().map(|(n, f, b)| json!({ "layer": n, "forward_ms": round3(*f), "backward_ms": round3(*b) })).collect())
    }
}

pub fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}
