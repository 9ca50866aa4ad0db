//! The tensor: a shape plus reference-counted, contiguous, row-major
//! storage of `f32` values, or of integers (`i32`/`i64`: token ids, labels).
//! Cloning a `Tensor` is cheap (it shares the storage). Ops return new
//! tensors; only optimizers write into a tensor in place. What an op computes
//! is up to the [`Backend`](crate::backend::Backend) of the tensor's device.
//!
//! A tensor made by an op while gradients are recorded remembers the op
//! (its [`GradFn`], or its place among the outputs of a several-output op),
//! so [`Tensor::backward`] can walk the graph back. A reshape shares its
//! input's storage (no copy).

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::autodiff::{self, GradFn, MultiOp};
use crate::error::{fmt_shape, Error, Result};

/// Where a tensor's numbers live. Only the CPU exists today; a GPU backend
/// adds a variant here and an implementation of
/// [`Backend`](crate::backend::Backend), not new layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    /// The host CPU, in main memory.
    Cpu,
}

/// The element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    /// 32-bit floats (`float32`), for values and weights.
    F32,
    /// 32-bit integers (`int32`).
    I32,
    /// 64-bit integers (`int64`), for ids and labels.
    I64,
}

impl DType {
    /// The name NumPy, safetensors and Keras use (`float32`, `int64`).
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::I32 => "int32",
            DType::I64 => "int64",
        }
    }
    /// Reads one of those names (`None` for other types).
    pub fn parse(name: &str) -> Option<DType> {
        [DType::F32, DType::I32, DType::I64].into_iter().find(|d| d.name() == name)
    }
}

/// The elements of a storage, by type.
#[derive(Clone)]
pub(crate) enum Buffer {
    F32(Vec<f32>),
    I32(Vec<i32>),
    I64(Vec<i64>),
}

impl Buffer {
    fn dtype(&self) -> DType {
        match self {
            Buffer::F32(_) => DType::F32,
            Buffer::I32(_) => DType::I32,
            Buffer::I64(_) => DType::I64,
        }
    }
    /// The elements as `f32` (integers converted, as NumPy's `astype`).
    fn to_f32(&self) -> Vec<f32> {
        match self {
            Buffer::F32(v) => v.clone(),
            Buffer::I32(v) => v.iter().map(|&x| x as f32).collect(),
            Buffer::I64(v) => v.iter().map(|&x| x as f32).collect(),
        }
    }
}

/// The numbers behind one or more tensors (a reshape shares them), and
/// values derived from them (see [`Tensor::derived`]).
struct Storage(RwLock<Buffer>, Derived);

/// Values computed from a storage's numbers, each with the version of the
/// numbers it was computed from; every write ([`Tensor::data_mut`]) makes a
/// new version, so an entry from before it is never returned again.
#[derive(Default)]
struct Derived {
    version: AtomicU64,
    entries: Mutex<Vec<(&'static str, u64, Arc<dyn Any + Send + Sync>)>>,
}

impl Storage {
    fn new(data: Buffer) -> Arc<Storage> {
        Arc::new(Storage(RwLock::new(data), Derived::default()))
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        if let Buffer::F32(data) = self.0.get_mut().unwrap_or_else(|e| e.into_inner()) {
            crate::buffer::give(std::mem::take(data));
        }
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
    /// What the tensor was computed from, where a later op can use it.
    origin: Option<Origin>,
}

/// What an op's output was computed from, kept where a later op can do better with it.
pub(crate) enum Origin {
    /// A softmax's logits: a cross-entropy loss uses the stable fused form (as Keras does).
    Logits(Tensor),
    /// Rows `ids` of a 2-D table (an embedding lookup) when the table's
    /// numbers were at `version`: a recurrent layer reading them projects
    /// each table row once instead of every looked-up row.
    Rows { table: Tensor, ids: Arc<Vec<usize>>, version: u64 },
}

/// An n-dimensional array of `f32` (or integers) that can take part in
/// automatic differentiation.
///
/// ```
/// use strata_core::Tensor;
///
/// # fn main() -> strata_core::Result<()> {
/// // Constants, and trainable leaves (weights) whose gradients are computed.
/// let x = Tensor::new(vec![1.0, 2.0, 3.0, 4.0], &[2, 2])?;
/// let w = Tensor::variable(vec![0.5, -1.0], &[2, 1])?;
/// let b = Tensor::variable(vec![0.5], &[1])?;
/// assert_eq!(Tensor::zeros(&[2, 3]).shape(), [2, 3]);
/// assert_eq!(Tensor::full(&[2], 7.0).to_vec(), [7.0, 7.0]);
///
/// // Ops make new tensors; `add` broadcasts the bias over the rows.
/// let y = x.matmul(&w)?.add(&b)?;
/// assert_eq!(y.to_vec(), [-1.0, -2.0]);
///
/// // Gradients of a scalar with respect to every variable it depends on.
/// let loss = y.square().sum();
/// assert_eq!(loss.item()?, 5.0);
/// let grads = loss.backward()?;
/// assert_eq!(grads.get(&w).unwrap().to_vec(), [-14.0, -20.0]); // xᵀ · 2y
/// assert_eq!(grads.get(&b).unwrap().to_vec(), [-6.0]);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Tensor(pub(crate) Arc<Node>);

/// Read access to a tensor's elements as `f32` (an integer tensor's are converted).
pub struct Data<'a>(DataInner<'a>);

enum DataInner<'a> {
    Shared(RwLockReadGuard<'a, Buffer>),
    Converted(Vec<f32>),
}

/// Write access to a tensor's elements (optimizers, in-place updates).
pub struct DataMut<'a>(RwLockWriteGuard<'a, Buffer>, &'a AtomicU64);

impl Drop for DataMut<'_> {
    /// The numbers may have changed: a new version (while the write lock is still held).
    fn drop(&mut self) {
        self.1.fetch_add(1, Ordering::Release);
    }
}

fn f32_slice(b: &Buffer) -> &[f32] {
    match b {
        Buffer::F32(v) => v,
        _ => &[],
    }
}

impl Deref for Data<'_> {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        match &self.0 {
            DataInner::Shared(g) => f32_slice(g),
            DataInner::Converted(v) => v,
        }
    }
}
impl Deref for DataMut<'_> {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        f32_slice(&self.0)
    }
}
impl DerefMut for DataMut<'_> {
    fn deref_mut(&mut self) -> &mut [f32] {
        match &mut *self.0 {
            Buffer::F32(v) => v,
            _ => &mut [],
        }
    }
}

fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

impl Tensor {
    fn build(data: Vec<f32>, shape: Vec<usize>, requires_grad: bool, grad_fn: Option<GradFn>, origin: Option<Origin>) -> Tensor {
        debug_assert_eq!(data.len(), numel(&shape));
        Tensor::on_storage(Storage::new(Buffer::F32(data)), shape, requires_grad, grad_fn, None, origin)
    }

    /// A constant tensor of `data` (its length already checked against `shape`).
    pub(crate) fn constant(data: Vec<f32>, shape: Vec<usize>) -> Tensor {
        Tensor::build(data, shape, false, None, None)
    }

    fn on_storage(data: Arc<Storage>, shape: Vec<usize>, requires_grad: bool, grad_fn: Option<GradFn>, part: Option<(Arc<MultiOp>, usize)>, origin: Option<Origin>) -> Tensor {
        Tensor(Arc::new(Node { id: autodiff::next_id(), shape, data, requires_grad, grad_fn, part, origin }))
    }

    /// The same numbers under another shape of as many elements, sharing the
    /// storage; the gradient passes through unchanged.
    pub(crate) fn view(&self, shape: Vec<usize>) -> Tensor {
        self.view_from(shape, None)
    }

    /// [`Tensor::view`], remembering what the numbers were computed from.
    pub(crate) fn view_from(&self, shape: Vec<usize>, origin: Option<Origin>) -> Tensor {
        debug_assert_eq!(numel(&shape), self.numel());
        let track = autodiff::is_enabled() && self.requires_grad();
        let grad_fn = track.then(|| GradFn::new("reshape", vec![self.clone()], Box::new(|inputs: &[Tensor], _: &Tensor, g: &Tensor| vec![Some(g.view(inputs[0].shape().to_vec()))])));
        Tensor::on_storage(self.0.data.clone(), shape, track, grad_fn, None, origin)
    }

    /// The storage's version: bumped by every write through [`Tensor::data_mut`].
    pub(crate) fn version(&self) -> u64 {
        self.0.data.1.version.load(Ordering::Acquire)
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
                Tensor::on_storage(Storage::new(Buffer::F32(data)), shape, track, None, part, None)
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
        check_len("Tensor::new", data.len(), shape)?;
        Ok(Tensor::build(data, shape.to_vec(), requires_grad, None, None))
    }

    /// A constant tensor of 64-bit integers (token ids, class labels).
    pub fn from_i64(data: Vec<i64>, shape: &[usize]) -> Result<Tensor> {
        check_len("Tensor::from_i64", data.len(), shape)?;
        Ok(Tensor::on_storage(Storage::new(Buffer::I64(data)), shape.to_vec(), false, None, None, None))
    }

    /// A constant tensor of 32-bit integers.
    pub fn from_i32(data: Vec<i32>, shape: &[usize]) -> Result<Tensor> {
        check_len("Tensor::from_i32", data.len(), shape)?;
        Ok(Tensor::on_storage(Storage::new(Buffer::I32(data)), shape.to_vec(), false, None, None, None))
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.0.data.0.read().unwrap_or_else(|e| e.into_inner()).dtype()
    }

    /// The elements as `i64`. Integer tensors convert exactly; an `f32`
    /// tensor must hold whole numbers (labels read from a float file), or
    /// the error names the first element that is not one.
    pub fn to_i64(&self) -> Result<Vec<i64>> {
        let data = self.0.data.0.read().unwrap_or_else(|e| e.into_inner());
        match &*data {
            Buffer::I64(v) => Ok(v.clone()),
            Buffer::I32(v) => Ok(v.iter().map(|&x| x as i64).collect()),
            Buffer::F32(v) => v
                .iter()
                .enumerate()
                .map(|(i, &x)| match x.is_finite() && x.fract() == 0.0 {
                    true => Ok(x as i64),
                    false => Err(Error::argument("to_i64", format!("element {i} of a {} tensor is {x}, not a whole number", fmt_shape(self.shape())))),
                })
                .collect(),
        }
    }

    /// Non-negative integer values as indices (labels, token ids); the error
    /// names the first negative or non-whole value.
    pub fn to_indices(&self) -> Result<Vec<usize>> {
        let values = self.to_i64()?;
        match values.iter().position(|&v| v < 0) {
            Some(i) => Err(Error::argument("indices", format!("element {i} of a {} tensor is {}, not a valid index", fmt_shape(self.shape()), values[i]))),
            None => Ok(values.into_iter().map(|v| v as usize).collect()),
        }
    }

    /// This tensor's values as `dtype` (a copy; the same tensor when the
    /// type already matches). Float to integer truncates toward zero, as
    /// NumPy's `astype`, and saturates at the integer type's range (NaN
    /// gives 0); integers become the nearest `f32`.
    pub fn cast(&self, dtype: DType) -> Tensor {
        if self.dtype() == dtype {
            return self.clone();
        }
        let data = self.0.data.0.read().unwrap_or_else(|e| e.into_inner());
        let buffer = match dtype {
            DType::F32 => Buffer::F32(data.to_f32()),
            DType::I32 => Buffer::I32(match &*data {
                // Float to int saturates at the type's range (NaN gives 0), as Rust's `as` does.
                Buffer::F32(v) => v.iter().map(|&x| x as i32).collect(),
                other => other.to_i64_truncated().into_iter().map(|v| v.clamp(i32::MIN as i64, i32::MAX as i64) as i32).collect(),
            }),
            DType::I64 => Buffer::I64(data.to_i64_truncated()),
        };
        Tensor::on_storage(Storage::new(buffer), self.shape().to_vec(), false, None, None, None)
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

    /// The output of an op defined outside this crate: `value` (shaped
    /// `shape`) computed by the caller from `inputs`, and `backward(inputs,
    /// output, output gradient)` giving each input's gradient. Used for ops
    /// whose work is not a kernel, such as a sum across processes.
    pub fn custom_op(name: &'static str, inputs: &[Tensor], value: Vec<f32>, shape: &[usize], backward: autodiff::BackwardFn) -> Result<Tensor> {
        check_len(name, value.len(), shape)?;
        Ok(Tensor::from_op(value, shape.to_vec(), GradFn::new(name, inputs.to_vec(), backward)))
    }

    /// Like [`Tensor::from_op`]; a softmax also remembers the logits it came from.
    pub(crate) fn from_op_with_logits(data: Vec<f32>, shape: Vec<usize>, grad_fn: GradFn, logits: Option<Tensor>) -> Tensor {
        let track = autodiff::is_enabled() && grad_fn.inputs.iter().any(|t| t.requires_grad());
        let grad_fn = if track { Some(grad_fn) } else { None };
        Tensor::build(data, shape, track, grad_fn, logits.map(Origin::Logits))
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
        match &self.0.origin {
            Some(Origin::Logits(logits)) => Some(logits),
            _ => None,
        }
    }
    /// For an embedding lookup whose table has not been written since: the
    /// table and the row of each looked-up position.
    pub(crate) fn table_rows(&self) -> Option<(&Tensor, &[usize])> {
        match &self.0.origin {
            Some(Origin::Rows { table, ids, version }) if table.version() == *version => Some((table, ids)),
            _ => None,
        }
    }
    /// Read access to the elements as `f32`, row-major (an integer tensor's
    /// values are converted into a copy).
    pub fn data(&self) -> Data<'_> {
        let guard = self.0.data.0.read().unwrap_or_else(|e| e.into_inner());
        match &*guard {
            Buffer::F32(_) => Data(DataInner::Shared(guard)),
            other => Data(DataInner::Converted(other.to_f32())),
        }
    }
    /// Write access to the elements of an `f32` tensor. Meant for optimizers
    /// and initial values; an integer tensor is converted to `f32` first.
    pub fn data_mut(&self) -> DataMut<'_> {
        let mut guard = self.0.data.0.write().unwrap_or_else(|e| e.into_inner());
        if guard.dtype() != DType::F32 {
            *guard = Buffer::F32(guard.to_f32());
        }
        DataMut(guard, &self.0.data.1.version)
    }
    /// A value computed from this tensor's elements by `make` (a kernel laid
    /// out for a fast path, say), kept with the storage under `key` until
    /// the elements are next written, so repeated calls with unchanged weights
    /// (inference) compute it once. `make` must depend on the elements alone.
    pub fn derived<T: Any + Send + Sync>(&self, key: &'static str, make: impl FnOnce(&[f32]) -> T) -> Arc<T> {
        let storage = &self.0.data;
        // Under the read lock no write is under way, so the version names these elements.
        let data = self.data();
        let version = storage.1.version.load(Ordering::Acquire);
        let found = {
            let entries = storage.1.entries.lock().unwrap_or_else(|e| e.into_inner());
            entries.iter().find(|e| e.0 == key && e.1 == version).and_then(|e| e.2.clone().downcast::<T>().ok())
        };
        if let Some(value) = found {
            return value;
        }
        let value = Arc::new(make(&data));
        let mut entries = storage.1.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|e| e.0 != key);
        entries.push((key, version, value.clone()));
        value
    }
    /// Whether `self` and `other` share their storage (one is a view of the other).
    pub(crate) fn shares_storage(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.0.data, &other.0.data)
    }
    /// Whether no other tensor shares this one's storage or graph node (so it
    /// may be written in place without anyone seeing).
    pub(crate) fn is_unshared(&self) -> bool {
        Arc::strong_count(&self.0) == 1 && Arc::strong_count(&self.0.data) == 1
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
        let copy = self.0.data.0.read().unwrap_or_else(|e| e.into_inner()).clone();
        Tensor::on_storage(Storage::new(copy), self.shape().to_vec(), false, None, None, None)
    }
    /// Fails with the op's name unless the tensor has `rank` dimensions.
    pub fn expect_rank(&self, op: &str, rank: usize) -> Result<()> {
        if self.rank() != rank {
            return Err(Error::shape(op, format!("expected a rank-{rank} tensor, got shape {}", fmt_shape(self.shape()))));
        }
        Ok(())
    }
    /// Rows `indices` along the first axis, as a new constant tensor of the
    /// same type (batching).
    pub fn gather_rows(&self, indices: &[usize]) -> Result<Tensor> {
        let rows = *self.shape().first().ok_or_else(|| Error::shape("gather_rows", "cannot index a 0-d tensor"))?;
        if let Some(&i) = indices.iter().find(|&&i| i >= rows) {
            return Err(Error::shape("gather_rows", format!("row {i} out of range for shape {}", fmt_shape(self.shape()))));
        }
        let row = self.numel().checked_div(rows).unwrap_or(0);
        let data = self.0.data.0.read().unwrap_or_else(|e| e.into_inner());
        let buffer = match &*data {
            Buffer::F32(v) => Buffer::F32(take_rows(v, row, indices, crate::buffer::take(indices.len() * row))),
            Buffer::I32(v) => Buffer::I32(take_rows(v, row, indices, vec![0; indices.len() * row])),
            Buffer::I64(v) => Buffer::I64(take_rows(v, row, indices, vec![0; indices.len() * row])),
        };
        let mut shape = self.shape().to_vec();
        shape[0] = indices.len();
        Ok(Tensor::on_storage(Storage::new(buffer), shape, false, None, None, None))
    }
}

/// Fails unless `len` values fill `shape`.
fn check_len(op: &str, len: usize, shape: &[usize]) -> Result<()> {
    if len != numel(shape) {
        return Err(Error::shape(op, format!("{len} values cannot fill shape {} ({} elements)", fmt_shape(shape), numel(shape))));
    }
    Ok(())
}

/// Copies rows `indices` (each `row` long) of `src` into `out`.
fn take_rows<T: Copy>(src: &[T], row: usize, indices: &[usize], mut out: Vec<T>) -> Vec<T> {
    for (dst, &i) in out.chunks_exact_mut(row.max(1)).zip(indices) {
        dst.copy_from_slice(&src[i * row..(i + 1) * row]);
    }
    out
}

impl Buffer {
    /// The elements as `i64`, floats truncated toward zero.
    fn to_i64_truncated(&self) -> Vec<i64> {
        match self {
            Buffer::F32(v) => v.iter().map(|&x| x as i64).collect(),
            Buffer::I32(v) => v.iter().map(|&x| x as i64).collect(),
            Buffer::I64(v) => v.clone(),
        }
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let data = self.data();
        let head: Vec<f32> = data.iter().take(8).copied().collect();
        let dtype = if self.dtype() == DType::F32 { String::new() } else { format!(" {}", self.dtype().name()) };
        write!(f, "Tensor{}{dtype} {:?}{}", fmt_shape(self.shape()), head, if data.len() > 8 { " ..." } else { "" })
    }
}
