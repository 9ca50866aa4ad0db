//! `Sequential`: a plain stack of layers, each feeding the next. It is a
//! builder of a [`Model`] (a chain), so everything a `Model` does (`fit`,
//! `evaluate`, `save`, callbacks) it does too, through `Deref`.

use std::ops::{Deref, DerefMut};

use strata_core::{Error, Result, Rng};

use super::functional::Model;
use crate::layers::{default_name, Layer, LayerRef};

/// A linear stack of layers, as Keras's `Sequential`.
///
/// ```
/// use strata::prelude::*;
///
/// # fn main() -> strata::Result<()> {
/// // 64 random samples of 4 features; the target is their sum.
/// let mut rng = strata::Rng::new(0);
/// let x: Vec<f32> = (0..64 * 4).map(|_| rng.normal()).collect();
/// let y: Vec<f32> = x.chunks(4).map(|row| row.iter().sum()).collect();
/// let (x, y) = (Tensor::new(x, &[64, 4])?, Tensor::new(y, &[64, 1])?);
///
/// let mut model = Sequential::with_seed(0);
/// model.add(Dense::new(8).activation("relu").input_shape([4]))?;
/// model.add(Dense::new(1))?;
/// model.compile("adam", "mse", &[])?;
/// let history = model.fit(&x, &y, FitOptions { epochs: 3, batch_size: 16, verbose: 0, ..Default::default() })?;
/// assert_eq!(history.history["loss"].len(), 3);
///
/// let predictions = model.predict(&x, 32)?;
/// assert_eq!(predictions.shape(), [64, 1]);
/// # Ok(()) }
/// ```
pub struct Sequential {
    model: Model,
}

impl std::fmt::Debug for Sequential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.model.fmt(f)
    }
}

impl Default for Sequential {
    fn default() -> Self {
        Sequential::new()
    }
}

impl Deref for Sequential {
    type Target = Model;
    fn deref(&self) -> &Model {
        &self.model
    }
}

impl DerefMut for Sequential {
    fn deref_mut(&mut self) -> &mut Model {
        &mut self.model
    }
}

impl From<Sequential> for Model {
    fn from(s: Sequential) -> Model {
        s.model
    }
}

impl Sequential {
    /// An empty model whose random choices are seeded from the clock.
    pub fn new() -> Self {
        Sequential::with_seed(Rng::from_entropy().next_u64())
    }

    /// An empty model whose initial weights and shuffling are fixed by `seed`.
    pub fn with_seed(seed: u64) -> Self {
        Sequential { model: Model::empty(seed, true) }
    }

    /// Appends a layer. A layer left with its default name is renamed as Keras
    /// does (`dense`, `dense_1`, ...). As in Keras, once the input shape is
    /// known (the first layer's `input_shape`, or an earlier build) the model
    /// is built as layers are added, so its weights exist right away; a layer
    /// that does not fit is refused and not added.
    pub fn add(&mut self, layer: impl Layer + 'static) -> Result<()> {
        self.push(Box::new(layer))
    }

    /// [`Sequential::add`] for a boxed layer.
    pub fn push(&mut self, layer: Box<dyn Layer>) -> Result<()> {
        self.push_ref(LayerRef::from_box(layer))
    }

    /// [`Sequential::add`] for a layer held elsewhere too (shared weights).
    pub fn push_ref(&mut self, layer: LayerRef) -> Result<()> {
        layer.lock().base().check()?;
        let base = default_name(layer.class_name());
        let taken = |name: &str| self.model.layers.iter().any(|l| l.name() == name);
        if layer.name() == base && taken(&base) {
            let k = (1..).find(|k| !taken(&format!("{base}_{k}"))).expect("a free suffix exists");
            layer.lock().set_name(format!("{base}_{k}"));
        }
        if taken(&layer.name()) {
            return Err(Error::layer(layer.name(), format!("model '{}' already has a layer with this name", self.model.name())));
        }
        let known = self.model.input_shape().map(|s| s.to_vec()).or_else(|| self.model.layers.first().unwrap_or(&layer).declared_input_shape());
        self.model.layers.push(layer);
        if let Some(shape) = known {
            if let Err(e) = self.model.build_chain(&shape) {
                self.model.layers.pop();
                return Err(e);
            }
        }
        Ok(())
    }

    /// Creates every layer's weights for samples of `input_shape` (no batch axis).
    /// Layer `i` draws its initial values from its own stream of the model's seed.
    pub fn build(&mut self, input_shape: &[usize]) -> Result<()> {
        self.model.build_chain(input_shape)
    }

    /// A Sequential from a model that is one (loaded from a file, read from JSON).
    pub fn from_model(model: Model) -> Result<Sequential> {
        if !model.sequential {
            return Err(Error::argument("model", format!("model '{}' is a functional model, not a Sequential: use Model::load / Model::from_json", model.name())));
        }
        Ok(Sequential { model })
    }

    /// The model itself (what `Deref` gives), e.g. to store with functional models.
    pub fn into_model(self) -> Model {
        self.model
    }
}
