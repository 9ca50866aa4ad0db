//! The functional API's symbolic tensors: `Input` makes one, calling a
//! layer on symbolic tensors (`layer.apply(&x)`) records the call and makes
//! its outputs. Nothing is computed or built until a [`super::Model`] is made
//! from inputs and outputs; then its layers are built in order, from the
//! model's seed.

use std::sync::Arc;

use strata_core::{DType, Error, Result};

use crate::layers::{Layer, LayerRef};

/// A placeholder for a tensor in a model being defined (Keras's `KerasTensor`).
#[derive(Clone)]
pub struct SymbolicTensor(pub(crate) Arc<Symbol>);

pub(crate) struct Symbol {
    pub(crate) origin: Origin,
}

pub(crate) enum Origin {
    /// A model input.
    Input(Arc<InputSpec>),
    /// Output `index` of a layer call.
    Call(Arc<Call>, usize),
}

/// A model input: its name and the shape of one sample.
pub struct InputSpec {
    pub name: String,
    pub shape: Vec<usize>,
    /// The type the model casts this input to (Keras's `Input(dtype=)`).
    pub dtype: DType,
}

/// One call of a layer on symbolic tensors.
pub(crate) struct Call {
    pub(crate) layer: LayerRef,
    pub(crate) inputs: Vec<SymbolicTensor>,
}

impl SymbolicTensor {
    /// Whether both are the same tensor.
    pub fn same(&self, other: &SymbolicTensor) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
    /// The layer whose call made this tensor (`None` for a model input).
    pub fn layer(&self) -> Option<LayerRef> {
        match &self.0.origin {
            Origin::Call(call, _) => Some(call.layer.clone()),
            Origin::Input(_) => None,
        }
    }
    /// A name for messages: `dense_1` (or `dense_1[1]` for a second output), or the input's name.
    pub fn describe(&self) -> String {
        match &self.0.origin {
            Origin::Input(spec) => spec.name.clone(),
            Origin::Call(call, 0) => call.layer.name(),
            Origin::Call(call, i) => format!("{}[{i}]", call.layer.name()),
        }
    }
    /// Output `index` of `call`.
    pub(crate) fn of_call(call: Arc<Call>, index: usize) -> SymbolicTensor {
        SymbolicTensor(Arc::new(Symbol { origin: Origin::Call(call, index) }))
    }
    pub(crate) fn input_spec(&self) -> Option<&Arc<InputSpec>> {
        match &self.0.origin {
            Origin::Input(spec) => Some(spec),
            Origin::Call(..) => None,
        }
    }
}

impl std::fmt::Debug for SymbolicTensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SymbolicTensor({})", self.describe())
    }
}

/// Keras's `Input(shape, name)`: a model input. The shape leaves out the batch axis.
pub struct Input;

impl Input {
    /// An input named `input_layer` (renamed `input_layer_1`, ... by the model when taken).
    #[allow(clippy::new_ret_no_self)]
    pub fn new(shape: impl Into<Vec<usize>>) -> SymbolicTensor {
        Input::named(shape, "input_layer")
    }
    /// An input with its own name (the key of its array in `.npz` files and in `fit`'s named inputs).
    pub fn named(shape: impl Into<Vec<usize>>, name: &str) -> SymbolicTensor {
        Input::typed(shape, name, DType::F32)
    }
    /// An input of another type than `float32` (Keras's `Input(dtype="int32")`):
    /// class ids or token ids. The model casts what it is given to `dtype`.
    pub fn typed(shape: impl Into<Vec<usize>>, name: &str, dtype: DType) -> SymbolicTensor {
        let spec = InputSpec { name: name.to_string(), shape: shape.into(), dtype };
        SymbolicTensor(Arc::new(Symbol { origin: Origin::Input(Arc::new(spec)) }))
    }
}

/// Symbolic inputs of a layer call: one tensor, a list, or an array of them.
pub struct Inputs(Vec<SymbolicTensor>);

impl From<&SymbolicTensor> for Inputs {
    fn from(x: &SymbolicTensor) -> Inputs {
        Inputs(vec![x.clone()])
    }
}
impl From<&[SymbolicTensor]> for Inputs {
    fn from(x: &[SymbolicTensor]) -> Inputs {
        Inputs(x.to_vec())
    }
}
impl From<Vec<SymbolicTensor>> for Inputs {
    fn from(x: Vec<SymbolicTensor>) -> Inputs {
        Inputs(x)
    }
}
impl<const N: usize> From<[&SymbolicTensor; N]> for Inputs {
    fn from(x: [&SymbolicTensor; N]) -> Inputs {
        Inputs(x.into_iter().cloned().collect())
    }
}

/// Calling a layer on symbolic tensors, as `layer(x)` in Keras's functional API:
/// `let y = Dense::new(10).apply(&x)?;`, `let s = Add::new().apply([&a, &b])?;`.
/// Calling the same [`LayerRef`] twice shares its weights.
pub trait Apply: Sized {
    /// The layer as models hold it.
    fn into_layer_ref(self) -> LayerRef;
    /// Calls the layer on `inputs` and returns its output (the first, for a layer with several).
    fn apply(self, inputs: impl Into<Inputs>) -> Result<SymbolicTensor> {
        Ok(self.apply_many(inputs)?.remove(0))
    }
    /// Calls the layer on `inputs` and returns every output.
    fn apply_many(self, inputs: impl Into<Inputs>) -> Result<Vec<SymbolicTensor>> {
        let layer = self.into_layer_ref();
        let inputs = inputs.into().0;
        if inputs.is_empty() {
            return Err(Error::layer(layer.name(), "was called on no inputs"));
        }
        let outputs = layer.num_outputs();
        let call = Arc::new(Call { layer, inputs });
        Ok((0..outputs).map(|i| SymbolicTensor::of_call(call.clone(), i)).collect())
    }
}

impl<L: Layer + 'static> Apply for L {
    fn into_layer_ref(self) -> LayerRef {
        LayerRef::new(self)
    }
}

impl Apply for &LayerRef {
    fn into_layer_ref(self) -> LayerRef {
        self.clone()
    }
}

impl Apply for super::Sequential {
    fn into_layer_ref(self) -> LayerRef {
        self.into_model().into_layer_ref()
    }
}

/// A model called as a layer of another model (nested).
impl Apply for super::Model {
    fn into_layer_ref(self) -> LayerRef {
        LayerRef::new(super::functional::ModelLayer(self))
    }
}

impl Apply for Box<dyn Layer> {
    fn into_layer_ref(self) -> LayerRef {
        LayerRef::from_box(self)
    }
}
