//! Merge layers: several inputs, one output. `Add`, `Subtract`,
//! `Multiply`, `Average`, `Maximum`, `Minimum` combine element-wise (with
//! broadcasting, as Keras allows); `Concatenate` joins along an axis; `Dot`
//! takes dot products along chosen axes.

mod dot;

use serde_json::{json, Value};
use strata_core::{fmt_shape, Error, Result, Rng, Tensor};

use super::{base_accessors, Layer, LayerBase};
use crate::layers::mask;
use crate::layers::config as cfg;

pub use dot::Dot;

/// How an element-wise merge combines its inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeOp {
    /// The sum of the inputs.
    Add,
    /// The first input minus the second.
    Subtract,
    /// The element-wise product.
    Multiply,
    /// The element-wise mean.
    Average,
    /// The element-wise maximum (ties go to the first input).
    Maximum,
    /// The element-wise minimum (ties go to the first input).
    Minimum,
}

impl MergeOp {
    fn class_name(self) -> &'static str {
        match self {
            MergeOp::Add => "Add",
            MergeOp::Subtract => "Subtract",
            MergeOp::Multiply => "Multiply",
            MergeOp::Average => "Average",
            MergeOp::Maximum => "Maximum",
            MergeOp::Minimum => "Minimum",
        }
    }
    fn combine(self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        match self {
            MergeOp::Add | MergeOp::Average => a.add(b),
            MergeOp::Subtract => a.sub(b),
            MergeOp::Multiply => a.mul(b),
            // Ties go to the first input, as TensorFlow's gradient does.
            MergeOp::Maximum => a.maximum(b),
            MergeOp::Minimum => a.minimum(b),
        }
    }
}

/// An element-wise merge of several inputs (two for `Subtract`); `OP` is a
/// [`MergeOp`] as a number, and the six Keras classes are its aliases.
///
/// # Shapes
/// inputs of one shape (or shapes that broadcast), output of the broadcast shape.
pub struct Merge<const OP: u8> {
    base: LayerBase,
}

/// Keras's `Add`: the sum of the inputs.
pub type Add = Merge<0>;
/// Keras's `Subtract`: the first input minus the second.
pub type Subtract = Merge<1>;
/// Keras's `Multiply`: the element-wise product of the inputs.
pub type Multiply = Merge<2>;
/// Keras's `Average`: the element-wise mean of the inputs.
pub type Average = Merge<3>;
/// Keras's `Maximum`: the element-wise maximum of the inputs.
pub type Maximum = Merge<4>;
/// Keras's `Minimum`: the element-wise minimum of the inputs.
pub type Minimum = Merge<5>;

impl<const OP: u8> Merge<OP> {
    const OPS: [MergeOp; 6] = [MergeOp::Add, MergeOp::Subtract, MergeOp::Multiply, MergeOp::Average, MergeOp::Maximum, MergeOp::Minimum];
    const OP: MergeOp = Self::OPS[OP as usize];

    /// A merge layer with Keras's defaults.
    pub fn new() -> Self {
        Merge { base: LayerBase::new(Self::OP.class_name()) }
    }
    /// How the inputs are combined.
    pub fn op(&self) -> MergeOp {
        Self::OP
    }
}

impl<const OP: u8> Default for Merge<OP> {
    fn default() -> Self {
        Merge::new()
    }
}

/// The shape `a` and `b` broadcast to (batch axis left out), or `None`.
fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    (0..rank)
        .map(|i| {
            let da = if i + a.len() >= rank { a[i + a.len() - rank] } else { 1 };
            let db = if i + b.len() >= rank { b[i + b.len() - rank] } else { 1 };
            match (da, db) {
                (x, y) if x == y => Some(x),
                (1, y) => Some(y),
                (x, 1) => Some(x),
                _ => None,
            }
        })
        .collect()
}

/// Lists shapes as Keras prints them, with the batch axis as `None`.
pub(crate) fn batch_shapes(shapes: &[Vec<usize>]) -> String {
    shapes.iter().map(|s| fmt_shape(&[&[0usize][..], s].concat()).replacen('0', "None", 1)).collect::<Vec<_>>().join(", ")
}

/// Fails unless a merge got at least `min` inputs (exactly `min` when `exact`).
fn check_count(layer: &dyn Layer, got: usize, min: usize, exact: bool) -> Result<()> {
    if got < min || (exact && got != min) {
        let wanted = if exact { format!("exactly {min}") } else { format!("at least {min}") };
        return Err(Error::layer(layer.name(), format!("{} takes {wanted} inputs, got {got}", layer.class_name())));
    }
    Ok(())
}

impl<const OP: u8> Layer for Merge<OP> {
    fn class_name(&self) -> &'static str {
        Self::OP.class_name()
    }
    base_accessors!();
    fn build(&mut self, _input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        Err(Error::layer(&self.base.name, format!("{} merges several inputs; call it on a list of tensors", self.class_name())))
    }
    fn build_many(&mut self, input_shapes: &[Vec<usize>], _rng: &mut Rng) -> Result<Vec<Vec<usize>>> {
        check_count(self, input_shapes.len(), 2, Self::OP == MergeOp::Subtract)?;
        let mut out = input_shapes[0].clone();
        for s in &input_shapes[1..] {
            out = broadcast(&out, s).ok_or_else(|| {
                Error::layer(&self.base.name, format!("{} needs inputs of one shape (or shapes that broadcast), got {}", self.class_name(), batch_shapes(input_shapes)))
            })?;
        }
        Ok(vec![out])
    }
    fn call(&self, x: &Tensor, _training: bool) -> Result<Tensor> {
        self.call_many(std::slice::from_ref(x), false).map(|mut o| o.remove(0))
    }
    fn call_many(&self, inputs: &[Tensor], _training: bool) -> Result<Vec<Tensor>> {
        check_count(self, inputs.len(), 2, Self::OP == MergeOp::Subtract)?;
        // Inputs of lower rank get length-1 axes after the batch axis, as Keras does.
        let rank = inputs.iter().map(|x| x.rank()).max().unwrap_or(0);
        let inputs = inputs
            .iter()
            .map(|x| (x.rank()..rank).try_fold(x.clone(), |x, _| x.unsqueeze(1)))
            .collect::<Result<Vec<_>>>()?;
        let mut out = inputs[0].clone();
        for x in &inputs[1..] {
            out = Self::OP.combine(&out, x).map_err(|e| e.in_layer(&self.base.name))?;
        }
        if Self::OP == MergeOp::Average {
            out = out.scale(1.0 / inputs.len() as f32);
        }
        Ok(vec![out])
    }
    fn compute_mask(&self, _inputs: &[Tensor], masks: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![mask::any(masks).map_err(|e| e.in_layer(&self.base.name))?])
    }
    fn call_masked(&self, inputs: &[Tensor], masks: &[Option<Tensor>], training: bool) -> Result<Vec<Tensor>> {
        // Keras's Add, Subtract and Average ignore masks in their values; its
        // Multiply, Maximum and Minimum keep masked values out of the result.
        if matches!(Self::OP, MergeOp::Add | MergeOp::Subtract | MergeOp::Average) || masks.iter().all(Option::is_none) {
            return self.call_many(inputs, training);
        }
        check_count(self, inputs.len(), 2, false)?;
        let keep = inputs.iter().zip(masks).map(|(x, m)| m.as_ref().map(|m| widened(&self.base.name, m, x)).transpose()).collect::<Result<Vec<_>>>()?;
        let out = match Self::OP {
            MergeOp::Multiply => masked_product(inputs, &keep),
            _ => masked_extreme(Self::OP, inputs, &keep),
        };
        Ok(vec![out.map_err(|e| e.in_layer(&self.base.name))?])
    }
    fn own_config(&self) -> Value {
        json!({ })
    }
}

/// A `(batch, steps)` mask as `(batch, steps, 1, ...)`, to broadcast over its input `x`.
fn widened(layer: &str, mask: &Tensor, x: &Tensor) -> Result<Tensor> {
    mask::steps_of(layer, mask, x)?;
    let mut shape: Vec<isize> = mask.shape().iter().map(|&d| d as isize).collect();
    shape.resize(x.rank(), 1);
    mask.reshape(&shape)
}

/// Keras's masked `Multiply`: a masked value counts as 1; where every input
/// has a mask, the steps none keeps are 0.
fn masked_product(inputs: &[Tensor], keep: &[Option<Tensor>]) -> Result<Tensor> {
    let one = Tensor::scalar(1.0);
    let mut out: Option<Tensor> = None;
    for (x, k) in inputs.iter().zip(keep) {
        let x = match k {
            Some(k) => Tensor::where_(k, x, &one)?,
            None => x.clone(),
        };
        out = Some(match out {
            Some(o) => o.mul(&x)?,
            None => x,
        });
    }
    let out = out.expect("two inputs or more");
    match mask::any(keep)? {
        Some(any) => Tensor::where_(&any, &out, &Tensor::scalar(0.0)),
        None => Ok(out),
    }
}

/// Keras's masked `Maximum` and `Minimum`, input by input: a masked value
/// of the next input takes the result so far, and a masked value of the
/// result so far takes the next input, so a value masked everywhere is the
/// first input's.
fn masked_extreme(op: MergeOp, inputs: &[Tensor], keep: &[Option<Tensor>]) -> Result<Tensor> {
    let (mut out, mut out_keep) = (inputs[0].clone(), keep[0].clone());
    for (x, k) in inputs[1..].iter().zip(&keep[1..]) {
        let x = match k {
            Some(k) => Tensor::where_(k, x, &out)?,
            None => x.clone(),
        };
        if let Some(ok) = &out_keep {
            out = Tensor::where_(ok, &out, &x)?;
        }
        out_keep = mask::any(&[out_keep, k.clone()])?;
        out = op.combine(&out, &x)?;
    }
    Ok(out)
}

/// Keras's `Concatenate`: joins the inputs along `axis` (default -1, the last).
///
/// # Shapes
/// inputs that agree on every axis but `axis`; output with those lengths added.
pub struct Concatenate {
    base: LayerBase,
    axis: isize,
}

impl Concatenate {
    /// Joins along the last axis.
    pub fn new() -> Self {
        Concatenate { base: LayerBase::new("Concatenate"), axis: -1 }
    }
    /// The axis to join along, counting the batch axis as 0 (negative counts from the end).
    pub fn axis(mut self, axis: isize) -> Self {
        self.axis = axis;
        self
    }
}

impl Default for Concatenate {
    fn default() -> Self {
        Concatenate::new()
    }
}

impl Layer for Concatenate {
    fn class_name(&self) -> &'static str {
        "Concatenate"
    }
    fn compute_mask(&self, inputs: &[Tensor], masks: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        if masks.iter().all(Option::is_none) {
            return Ok(vec![None]);
        }
        // Keras: each mask widened to its input's shape (all kept where none), joined as the
        // inputs are, then a position counts if any of its last axis does.
        let widened = inputs
            .iter()
            .zip(masks)
            .map(|(x, m)| match m {
                None => Ok(Tensor::full(x.shape(), 1.0)),
                Some(m) if m.rank() < x.rank() => m.unsqueeze(-1)?.mul(&Tensor::full(x.shape(), 1.0)),
                Some(m) => Ok(m.clone()),
            })
            .collect::<Result<Vec<_>>>()?;
        let joined = Tensor::concat(&widened, self.axis).map_err(|e| e.in_layer(&self.base.name))?;
        let last = *joined.shape().last().unwrap_or(&1);
        let keep: Vec<bool> = joined.to_vec().chunks(last.max(1)).map(|row| row.iter().any(|&v| v != 0.0)).collect();
        Ok(vec![Some(mask::from_bools(&keep, &joined.shape()[..joined.rank() - 1])?)])
    }
    base_accessors!();
    fn build(&mut self, _input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        Err(Error::layer(&self.base.name, "Concatenate joins several inputs; call it on a list of tensors"))
    }
    fn build_many(&mut self, input_shapes: &[Vec<usize>], _rng: &mut Rng) -> Result<Vec<Vec<usize>>> {
        check_count(self, input_shapes.len(), 1, false)?;
        let rank = input_shapes[0].len() + 1;
        let axis = if self.axis < 0 { self.axis + rank as isize } else { self.axis };
        let bad = |why: &str| Error::layer(&self.base.name, format!("Concatenate(axis={}) {why}, got inputs {}", self.axis, batch_shapes(input_shapes)));
        if axis < 1 || axis >= rank as isize {
            return Err(bad("needs an axis other than the batch axis and inside the inputs"));
        }
        let a = axis as usize - 1;
        let first = &input_shapes[0];
        if input_shapes.iter().any(|s| s.len() != first.len() || s.iter().zip(first).enumerate().any(|(i, (x, y))| i != a && x != y)) {
            return Err(bad("needs inputs that agree on every other axis"));
        }
        let mut out = first.clone();
        out[a] = input_shapes.iter().map(|s| s[a]).sum();
        Ok(vec![out])
    }
    fn call(&self, x: &Tensor, _training: bool) -> Result<Tensor> {
        Ok(x.clone())
    }
    fn call_many(&self, inputs: &[Tensor], _training: bool) -> Result<Vec<Tensor>> {
        Ok(vec![Tensor::concat(inputs, self.axis).map_err(|e| e.in_layer(&self.base.name))?])
    }
    fn own_config(&self) -> Value {
        json!({ "axis": self.axis })
    }
}

impl<const OP: u8> Merge<OP> {
    /// Reads Keras's config of this layer (`layer.get_config()`); `l` names it in errors.
    pub(crate) fn from_config(_l: &str, _config: &Value) -> Result<Box<dyn Layer>> {
        Ok(Box::new(Self::new()))
    }
}

impl Concatenate {
    /// Reads Keras's config of this layer (`layer.get_config()`); `l` names it in errors.
    pub(crate) fn from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        let v = config.get("axis").cloned().unwrap_or(Value::from(-1));
        Ok(Box::new(Concatenate::new().axis(v.as_i64().ok_or_else(|| cfg::bad(l, "axis", "an integer", &v))? as isize)))
    }
}
