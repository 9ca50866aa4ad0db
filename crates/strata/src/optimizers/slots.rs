//! Named per-weight state of the optimizers (Adam's moments, RMSprop's
//! averages): tensors on the weight's device, created on first use.

use std::collections::HashMap;

use strata_core::{Result, Tensor};

use super::check_slot;

/// For every weight, one tensor shaped like it per slot name.
#[derive(Debug)]
pub struct Slots {
    names: &'static [&'static str],
    by_weight: HashMap<usize, Vec<Tensor>>,
}

/// A copy of an optimizer has its own state, as before slots were tensors.
impl Clone for Slots {
    fn clone(&self) -> Self {
        Slots { names: self.names, by_weight: self.by_weight.iter().map(|(&id, s)| (id, s.iter().map(Tensor::detach).collect())).collect() }
    }
}

impl Slots {
    pub fn new(names: &'static [&'static str]) -> Self {
        Slots { names, by_weight: HashMap::new() }
    }

    /// The slots of `w`, created filled with `init` (one value per slot name).
    pub fn get(&mut self, w: &Tensor, init: &[f32]) -> &[Tensor] {
        self.by_weight.entry(w.id()).or_insert_with(|| init.iter().map(|&v| Tensor::full(w.shape(), v)).collect())
    }

    /// The slots of `w`, if it has been updated.
    pub fn peek(&self, w: &Tensor) -> Option<&[Tensor]> {
        self.by_weight.get(&w.id()).map(|s| s.as_slice())
    }

    /// The slots of `w` with their names and values, for checkpoints.
    pub fn named(&self, w: &Tensor) -> Vec<(&'static str, Vec<f32>)> {
        self.by_weight.get(&w.id()).map(|s| self.names.iter().copied().zip(s.iter().map(Tensor::to_vec)).collect()).unwrap_or_default()
    }

    /// Restores the slots of `w` from a checkpoint (all names must be present).
    pub fn restore(&mut self, w: &Tensor, slots: Vec<(String, Vec<f32>)>) -> Result<()> {
        let mut values = Vec::new();
        for name in self.names {
            if let Some((n, v)) = slots.iter().find(|(n, _)| n == name) {
                check_slot(n, v, w)?;
                values.push(Tensor::new(v.clone(), w.shape())?);
            }
        }
        if values.len() == self.names.len() {
            self.by_weight.insert(w.id(), values);
        }
        Ok(())
    }
}
