//! The tensor: a shape plus reference-counted, contiguous, row-major `f32`
//! storage. Cloning a `Tensor` is cheap (it shares the storage). Ops return
//! new tensors; only optimizers write into a tensor in place.
//!
//! A tensor made by an op while gradients are recorded remembers the op
//! (its [`GradFn`], or its place among the outputs of a several-output op),
//! so [`Tensor::backward`] can walk the graph back. A reshape shares its
//! input's storage (no copy).

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::autodiff::{self, GradFn, MultiOp};
use crate::error::{fmt_shape, Error, Result};

/// Where a tensor's numbers live. Only the CPU exists today; a GPU backend
/// adds a variant here and kernels beside `kernels/`, not new layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    Cpu,
}

/// The numbers behind one or more tensors (a reshape shares them).
struct Storage(RwLock<Vec<f32>>);

impl Drop for Storage {
    fn drop(&mut self) {
        let data = self.0.get_mut().unwrap_or_else(|e| e.into_inner());
        crate::buffer::give(std::mem::take(data));
    }
}

pub(crate) struct Node {
    id: usize,
    shape: Vec<usize>,
    data: Arc<Storage>,
    requires_grad: bool,
    pub(crate) grad_fn: Option<GradFn>,
    /// For an output of a several-output op (split): the op and which output this is.
    pub(crate) part: Option<(Arc<MultiOp>, usize)>,
    /// For the output of a softmax: the logits it was computed from, so a
    /// cross-entropy loss can use the stable fused form (as Keras does).
    logits: Option<Tensor>,
}

/// An n-dimensional array of `f32` that can take part in automatic differentiation.
#[derive(Clone)]
pub struct Tensor(pub(crate) Arc<Node>);

/// Read access to a tensor's elements.
pub struct Data<'a>(RwLockReadGuard<'a, Vec<f32>>);
/// Write access to a tensor's elements (optimizers, in-place updates).
pub struct DataMut<'a>(RwLockWriteGuard<'a, Vec<f32>>);

impl Deref for Data<'_> {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.0
    }
}
impl Deref for DataMut<'_> {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.0
    }
}
impl DerefMut for DataMut<'_> {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.0
    }
}

fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

impl Tensor {
    fn build(data: Vec<f32>, shape: Vec<usize>, requires_grad: bool, grad_fn: Option<GradFn>, logits: Option<Tensor>) -> Tensor {
        debug_assert_eq!(data.len(), numel(&shape));
        Tensor::on_storage(Arc::new(Storage(RwLock::new(data))), shape, requires_grad, grad_fn, None, logits)
    }

    fn on_storage(data: Arc<Storage>, shape: Vec<usize>, requires_grad: bool, grad_fn: Option<GradFn>, part: Option<(Arc<MultiOp>, usize)>, logits: Option<Tensor>) -> Tensor {
        Tensor(Arc::new(Node { id: autodiff::next_id(), shape, data, requires_grad, grad_fn, part, logits }))
    }

    /// The same numbers under another shape of as many elements, sharing the
    /// storage; the gradient passes through unchanged.
    pub(crate) fn view(&self, shape: Vec<usize>) -> Tensor {
        debug_assert_eq!(numel(&shape), self.numel());
        let track = autodiff::is_enabled() && self.requires_grad();
        let grad_fn = track.then(|| GradFn::new("reshape", vec![self.clone()], Box::new(|_: &[Tensor], _: &[f32], g: &[f32]| vec![Some(g.to_vec())])));
        Tensor::on_storage(self.0.data.clone(), shape, track, grad_fn, None, None)
    }

    /// The outputs of a several-output op: each output's gradient is handed
    /// to `op`'s backward once, together with the others'.
    pub(crate) fn from_multi_op(outputs: Vec<(Vec<f32>, Vec<usize>)>, op: MultiOp) -> Vec<Tensor> {
        let track = autodiff::is_enabled() && op.inputs.iter().any(|t| t.requires_grad());
        let op = track.then(|| Arc::new(op));
        outputs
            .into_iter()
            .enumerate()
            .map(|(i, (data, shape))| {
                let part = op.as_ref().map(|op| (op.clone(), i));
                Tensor::on_storage(Arc::new(Storage(RwLock::new(data))), shape, track, None, part, None)
            })
            .collect()
    }

    /// A constant tensor. Fails if `data.len()` does not match `shape`.
    pub fn new(data: Vec<f32>, shape: &[usize]) -> Result<Tensor> {
        Tensor::leaf(data, shape, false)
    }

    /// A trainable leaf (a weight): gradients are computed for it.
    pub fn variable(data: Vec<f32>, shape: &[usize]) -> Result<Tensor> {
        Tensor::leaf(data, shape, true)
    }

    fn leaf(data: Vec<f32>, shape: &[usize], requires_grad: bool) -> Result<Tensor> {
        if data.len() != numel(shape) {
            return Err(Error::shape(
                "Tensor::new",
                format!("{} values cannot fill shape {} ({} elements)", data.len(), fmt_shape(shape), numel(shape)),
            ));
        }
        Ok(Tensor::build(data, shape.to_vec(), requires_grad, None, None))
    }

    /// A tensor of zeros.
    pub fn zeros(shape: &[usize]) -> Tensor {
        Tensor::build(crate::buffer::zeros(numel(shape)), shape.to_vec(), false, None, None)
    }

    /// A tensor filled with `value`.
    pub fn full(shape: &[usize], value: f32) -> Tensor {
        Tensor::build(vec![value; numel(shape)], shape.to_vec(), false, None, None)
    }

    /// A 0-d tensor holding one number.
    pub fn scalar(value: f32) -> Tensor {
        Tensor::build(vec![value], vec![], false, None, None)
    }

    /// The output of an op. When gradients are being recorded and some input
    /// needs one, the op's backward function is kept; otherwise it is dropped.
    pub(crate) fn from_op(data: Vec<f32>, shape: Vec<usize>, grad_fn: GradFn) -> Tensor {
        Tensor::from_op_with_logits(data, shape, grad_fn, None)
    }

    /// Like [`Tensor::from_op`]; a softmax also remembers the logits it came from.
    pub(crate) fn from_op_with_logits(data: Vec<f32>, shape: Vec<usize>, grad_fn: GradFn, logits: Option<Tensor>) -> Tensor {
        let track = autodiff::is_enabled() && grad_fn.inputs.iter().any(|t| t.requires_grad());
        let grad_fn = if track { Some(grad_fn) } else { None };
        Tensor::build(data, shape, track, grad_fn, logits)
    }

    /// A unique id, stable for the tensor's lifetime (keys gradients and optimizer slots).
    pub fn id(&self) -> usize {
        self.0.id
    }
    /// The dimensions, outermost first.
    pub fn shape(&self) -> &[usize] {
        &self.0.shape
    }
    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.0.shape.len()
    }
    /// Total number of elements.
    pub fn numel(&self) -> usize {
        numel(&self.0.shape)
    }
    /// The device holding the data.
    pub fn device(&self) -> Device {
        Device::Cpu
    }
    /// Whether gradients flow to this tensor.
    pub fn requires_grad(&self) -> bool {
        self.0.requires_grad
    }
    /// For a softmax output: the logits it was computed from.
    pub fn softmax_logits(&self) -> Option<&Tensor> {
        self.0.logits.as_ref()
    }
    /// Read access to the elements, row-major.
    pub fn data(&self) -> Data<'_> {
        Data(self.0.data.0.read().unwrap_or_else(|e| e.into_inner()))
    }
    /// Write access to the elements. Meant for optimizers and initial values.
    pub fn data_mut(&self) -> DataMut<'_> {
        DataMut(self.0.data.0.write().unwrap_or_else(|e| e.into_inner()))
    }
    /// A copy of the elements.
    pub fn to_vec(&self) -> Vec<f32> {
        self.data().to_vec()
    }
    /// The value of a one-element tensor.
    pub fn item(&self) -> Result<f32> {
        if self.numel() != 1 {
            return Err(Error::shape("item", format!("needs a one-element tensor, got shape {}", fmt_shape(self.shape()))));
        }
        Ok(self.data()[0])
    }
    /// A constant copy cut off from the graph.
    pub fn detach(&self) -> Tensor {
        Tensor::build(self.to_vec(), self.shape().to_vec(), false, None, None)
    }
    /// Fails with the op's name unless the tensor has `rank` dimensions.
    pub fn expect_rank(&self, op: &str, rank: usize) -> Result<()> {
        if self.rank() != rank {
            return Err(Error::shape(op, format!("expected a rank-{rank} tensor, got shape {}", fmt_shape(self.shape()))));
        }
        Ok(())
    }
    /// Rows `indices` along the first axis, as a new constant tensor (batching).
    pub fn gather_rows(&self, indices: &[usize]) -> Result<Tensor> {
        let rows = *self.shape().first().ok_or_else(|| Error::shape("gather_rows", "cannot index a 0-d tensor"))?;
        let row = self.numel().checked_div(rows).unwrap_or(0);
        if let Some(&i) = indices.iter().find(|&&i| i >= rows) {
            return Err(Error::shape("gather_rows", format!("row {i} out of range for shape {}", fmt_shape(self.shape()))));
        }
        let src = self.data();
        let mut out = crate::buffer::take(indices.len() * row);
        for (dst, &i) in out.chunks_exact_mut(row.max(1)).zip(indices) {
            dst.copy_from_slice(&src[i * row..(i + 1) * row]);
        }
        let mut shape = self.shape().to_vec();
        shape[0] = indices.len();
        Ok(Tensor::build(out, shape, false, None, None))
    }
    /// Whether every element is finite.
    pub fn all_finite(&self) -> bool {
        crate::kernels::elementwise::all_finite(&self.data())
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let data = self.data();
        let head: Vec<f32> = data.iter().take(8).copied().collect();
        write!(f, "Tensor{} {:?}{}", fmt_shape(self.shape()), head, if data.len() > 8 { " ..." } else { "" })
    }
}
