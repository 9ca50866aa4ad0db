//! `LayerRef`: a layer as models hold it. One layer can be called at several
//! places of a graph, or in several models (shared weights, feature
//! extraction), so models share it by reference; it is built once.

use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use strata_core::{fmt_shape, Error, Result, Rng, Tensor};

use super::{Layer, Weight};

struct Cell {
    layer: Box<dyn Layer>,
    /// The input shapes it was built for, once built.
    built: Option<Vec<Vec<usize>>>,
    /// The output shapes `build` returned.
    outputs: Vec<Vec<usize>>,
}

/// A shared handle to a layer. Cloning it shares the layer (and its weights).
#[derive(Clone)]
pub struct LayerRef(Arc<Mutex<Cell>>);

/// Access to the layer behind a [`LayerRef`] while it is held.
pub struct LayerGuard<'a>(MutexGuard<'a, Cell>);

impl std::ops::Deref for LayerGuard<'_> {
    type Target = dyn Layer;
    fn deref(&self) -> &(dyn Layer + 'static) {
        self.0.layer.as_ref()
    }
}

impl std::ops::DerefMut for LayerGuard<'_> {
    fn deref_mut(&mut self) -> &mut (dyn Layer + 'static) {
        self.0.layer.as_mut()
    }
}

impl LayerRef {
    /// Takes ownership of `layer`.
    pub fn new(layer: impl Layer + 'static) -> LayerRef {
        LayerRef::from_box(Box::new(layer))
    }
    /// [`LayerRef::new`] for a boxed layer.
    pub fn from_box(layer: Box<dyn Layer>) -> LayerRef {
        LayerRef(Arc::new(Mutex::new(Cell { layer, built: None, outputs: Vec::new() })))
    }
    /// The layer, locked while the guard lives.
    pub fn lock(&self) -> LayerGuard<'_> {
        LayerGuard(self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
    /// An id for the layer, the same for every handle to it.
    pub(crate) fn address(&self) -> usize {
        Arc::as_ptr(&self.0) as *const () as usize
    }
    /// Whether `self` and `other` are the same layer.
    pub fn same(&self, other: &LayerRef) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
    /// The layer's name (`"dense_1"`).
    pub fn name(&self) -> String {
        self.lock().name().to_string()
    }
    /// Keras's class name of the layer (`"Dense"`).
    pub fn class_name(&self) -> &'static str {
        self.lock().class_name()
    }
    /// The layer's weights; all non-trainable when the layer is frozen.
    pub fn weights(&self) -> Vec<Weight> {
        let layer = self.lock();
        let frozen = !layer.trainable();
        layer.weights().into_iter().map(|w| Weight { trainable: w.trainable && !frozen, ..w }).collect()
    }
    /// A copy of each of the layer's weights, in Keras's order (`layer.get_weights()`).
    pub fn get_weights(&self) -> Vec<Tensor> {
        self.lock().weights().iter().map(|w| w.tensor.detach()).collect()
    }
    /// Sets the layer's weights from `values` in Keras's order (`layer.set_weights(list)`);
    /// the error names the first weight whose shape differs.
    pub fn set_weights(&self, values: &[Tensor]) -> Result<()> {
        let layer = self.lock();
        let weights: Vec<(String, Tensor)> = layer.weights().into_iter().map(|w| (w.name, w.tensor)).collect();
        crate::model::functional::assign_in_order(layer.name(), &weights, values)
    }
    /// The layers of a model used as this layer (none for other layers).
    pub fn sublayers(&self) -> Vec<LayerRef> {
        self.lock().sublayers()
    }
    /// Freezes or unfreezes the layer (Keras's `layer.trainable = False`).
    pub fn set_trainable(&self, trainable: bool) {
        self.lock().set_trainable(trainable)
    }
    /// The layer's Keras config (see [`Layer::config`]).
    pub fn config(&self) -> Value {
        self.lock().config()
    }
    /// The input shape given with `input_shape`, if any (without the batch axis).
    pub fn declared_input_shape(&self) -> Option<Vec<usize>> {
        self.lock().declared_input_shape().map(|s| s.to_vec())
    }
    /// Whether the layer can fuse a following max pooling (see [`Layer::fuses_max_pool`]).
    pub fn fuses_max_pool(&self) -> bool {
        self.lock().fuses_max_pool()
    }
    /// The pool size of a max pooling whose windows tile its input (see [`Layer::tiling_max_pool`]).
    pub fn tiling_max_pool(&self) -> Option<(usize, usize)> {
        self.lock().tiling_max_pool()
    }
    /// How many tensors the layer returns (1 for most layers).
    pub fn num_outputs(&self) -> usize {
        self.lock().num_outputs()
    }
    /// Whether the layer has been built.
    pub fn is_built(&self) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).built.is_some()
    }
    /// Builds the layer for `input_shapes` the first time; later calls
    /// (a shared layer) check that the shapes are the ones it was built for.
    /// Returns the output shapes.
    pub fn build(&self, input_shapes: &[Vec<usize>], rng: &mut Rng) -> Result<Vec<Vec<usize>>> {
        let mut cell = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(built) = &cell.built {
            if built.as_slice() != input_shapes {
                let shapes = |s: &[Vec<usize>]| s.iter().map(|s| fmt_shape(s)).collect::<Vec<_>>().join(", ");
                return Err(Error::layer(
                    cell.layer.name(),
                    format!("was built for inputs {} and cannot be called on {} (a shared layer takes the same shapes at every call)", shapes(built), shapes(input_shapes)),
                ));
            }
            return Ok(cell.outputs.clone());
        }
        let name = cell.layer.name().to_string();
        cell.layer.base().check()?;
        let outputs = cell.layer.build_many(input_shapes, rng).map_err(|e| e.in_layer(&name))?;
        cell.built = Some(input_shapes.to_vec());
        cell.outputs = outputs.clone();
        Ok(outputs)
    }
}

impl std::fmt::Debug for LayerRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let l = self.lock();
        write!(f, "{} ({})", l.name(), l.class_name())
    }
}
