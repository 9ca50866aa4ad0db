//! Reshape and flatten: the same elements under a new shape, sharing storage.

use crate::error::{fmt_shape, Error, Result};
use crate::tensor::Tensor;

impl Tensor {
    /// The same elements under `shape`; one dimension may be `-1` (inferred).
    pub fn reshape(&self, shape: &[isize]) -> Result<Tensor> {
        let known: usize = shape.iter().filter(|&&d| d >= 0).map(|&d| d as usize).product();
        let holes = shape.iter().filter(|&&d| d == -1).count();
        let bad = || {
            let wanted: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
            Error::shape("reshape", format!("cannot reshape {} ({} elements) to ({})", fmt_shape(self.shape()), self.numel(), wanted.join(", ")))
        };
        if holes > 1 || shape.iter().any(|&d| d < -1) {
            return Err(bad());
        }
        let resolved: Vec<usize> = if holes == 1 {
            if known == 0 || !self.numel().is_multiple_of(known) {
                return Err(bad());
            }
            shape.iter().map(|&d| if d == -1 { self.numel() / known } else { d as usize }).collect()
        } else {
            shape.iter().map(|&d| d as usize).collect()
        };
        if resolved.iter().product::<usize>() != self.numel() {
            return Err(bad());
        }
        Ok(self.view(resolved))
    }

    /// Keeps the first (batch) axis and flattens the rest: `[n, ...] -> [n, prod(...)]`.
    pub fn flatten(&self) -> Result<Tensor> {
        if self.rank() == 0 {
            return Err(Error::shape("flatten", "cannot flatten a 0-d tensor: it has no batch axis"));
        }
        self.reshape(&[self.shape()[0] as isize, -1])
    }
}
