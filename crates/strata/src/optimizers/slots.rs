//! Named per-weight state shared by the optimizers that keep several
//! accumulators (RMSprop, Adagrad, Adadelta, Adamax, Nadam).

use std::collections::HashMap;

use strata_core::{Result, Tensor};

use super::check_slot;

/// For every weight, one vector per slot name, created on first use.
#[derive(Clone, Debug)]
pub struct Slots {
    names: &'static [&'static str],
    by_weight: HashMap<usize, Vec<Vec<f32>>>,
}

impl Slots {
    pub fn new(names: &'static [&'static str]) -> Self {
        Slots { names, by_weight: HashMap::new() }
    }

    /// The slots of `w`, created filled with `init` (one value per slot name).
    pub fn get(&mut self, w: &Tensor, init: &[f32]) -> &mut Vec<Vec<f32>> {
        let n = w.numel();
        self.by_weight.entry(w.id()).or_insert_with(|| init.iter().map(|&v| vec![v; n]).collect())
    }

    /// The slots of `w`, if it has been updated.
    pub fn peek(&self, w: &Tensor) -> Option<&[Vec<f32>]> {
        self.by_weight.get(&w.id()).map(|s| s.as_slice())
    }

    /// The slots of `w` with their names, for checkpoints.
    pub fn named(&self, w: &Tensor) -> Vec<(&'static str, Vec<f32>)> {
        self.by_weight.get(&w.id()).map(|s| self.names.iter().copied().zip(s.iter().cloned()).collect()).unwrap_or_default()
    }

    /// Restores the slots of `w` from a checkpoint (all names must be present).
    pub fn restore(&mut self, w: &Tensor, slots: Vec<(String, Vec<f32>)>) -> Result<()> {
        let mut values = Vec::new();
        for name in self.names {
            if let Some((n, v)) = slots.iter().find(|(n, _)| n == name) {
                check_slot(n, v, w)?;
                values.push(v.clone());
            }
        }
        if values.len() == self.names.len() {
            self.by_weight.insert(w.id(), values);
        }
        Ok(())
    }
}
