//! `Dot`: the dot products of two inputs' samples along one axis of each
//! (Keras's `batch_dot`), optionally of L2-normalised samples (cosine similarity).

use serde_json::{json, Value};
use strata_core::{Error, Result, Rng, Tensor};

use super::batch_shapes;
use crate::layers::{base_accessors, Layer, LayerBase};
use crate::layers::config as cfg;

/// Keras's `Dot(axes, normalize)` for inputs of rank 2 or 3 (batch axis included).
///
/// # Shapes
/// `(batch, n)` . `(batch, n)` -> `(batch, 1)`; `(batch, m, k)` . `(batch, k, n)`
/// with `axes = (2, 1)` -> `(batch, m, n)`; a 2-D input with a 3-D one drops the missing axis.
pub struct Dot {
    base: LayerBase,
    axes: (isize, isize),
    normalize: bool,
    /// Axes resolved against the built input ranks (batch axis = 0).
    resolved: Option<(usize, usize, usize, usize)>,
}

impl Dot {
    /// The same axis of both inputs (counting the batch axis as 0; negative from the end).
    pub fn new(axes: isize) -> Self {
        Dot::with_axes((axes, axes))
    }
    /// Axis `axes.0` of the first input against axis `axes.1` of the second.
    pub fn with_axes(axes: (isize, isize)) -> Self {
        Dot { base: LayerBase::new("Dot"), axes, normalize: false, resolved: None }
    }
    /// Whether to L2-normalise each sample along its axis first (default false).
    pub fn normalize(mut self, normalize: bool) -> Self {
        self.normalize = normalize;
        self
    }
}

/// Keras's `normalize(x, axis)` for order 2: `x · min(1/√Σx², 1/ε)`, the
/// minimum taken as `1/√max(Σx², ε²)` so a zero sample gets a zero gradient, not NaN.
fn l2_normalize(x: &Tensor, axis: usize) -> Result<Tensor> {
    let eps = crate::losses::EPSILON;
    let inv = x.square().sum_axis(axis as isize, true)?.clip(eps * eps, f32::MAX).powf(-0.5);
    x.mul(&inv)
}

impl Layer for Dot {
    fn class_name(&self) -> &'static str {
        "Dot"
    }
    base_accessors!();
    fn build(&mut self, _input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        Err(Error::layer(&self.base.name, "Dot takes two inputs; call it on a list of two tensors"))
    }
    fn build_many(&mut self, input_shapes: &[Vec<usize>], _rng: &mut Rng) -> Result<Vec<Vec<usize>>> {
        let bad = |why: String| Error::layer(&self.base.name, format!("Dot(axes={:?}) {why}, got inputs {}", self.axes, batch_shapes(input_shapes)));
        let [a, b] = input_shapes else { return Err(bad("takes exactly two inputs".into())) };
        let (ra, rb) = (a.len() + 1, b.len() + 1);
        if !(2..=3).contains(&ra) || !(2..=3).contains(&rb) {
            return Err(bad("supports inputs of rank 2 or 3 (batch axis included)".into()));
        }
        let resolve = |axis: isize, rank: usize| if axis < 0 { axis + rank as isize } else { axis };
        let (xa, ya) = (resolve(self.axes.0, ra), resolve(self.axes.1, rb));
        if xa < 1 || xa >= ra as isize || ya < 1 || ya >= rb as isize {
            return Err(bad("needs axes inside the inputs and other than the batch axis".into()));
        }
        let (xa, ya) = (xa as usize, ya as usize);
        if a[xa - 1] != b[ya - 1] {
            return Err(bad(format!("needs axes of one length ({} != {})", a[xa - 1], b[ya - 1])));
        }
        let mut out: Vec<usize> = a.iter().enumerate().filter(|&(i, _)| i != xa - 1).map(|(_, &d)| d).collect();
        out.extend(b.iter().enumerate().filter(|&(i, _)| i != ya - 1).map(|(_, &d)| d));
        if out.is_empty() {
            out.push(1);
        }
        self.resolved = Some((xa, ya, ra, rb));
        Ok(vec![out])
    }
    fn call(&self, _x: &Tensor, _training: bool) -> Result<Tensor> {
        Err(Error::layer(&self.base.name, "Dot takes two inputs"))
    }
    fn call_many(&self, inputs: &[Tensor], _training: bool) -> Result<Vec<Tensor>> {
        let (xa, ya, ra, rb) = self.resolved.ok_or_else(|| crate::layers::not_built(self))?;
        let [x, y] = inputs else { return Err(Error::layer(&self.base.name, format!("Dot takes two inputs, got {}", inputs.len()))) };
        let (mut x, mut y) = (x.clone(), y.clone());
        if self.normalize {
            (x, y) = (l2_normalize(&x, xa)?, l2_normalize(&y, ya)?);
        }
        // x as (batch, m, k) and y as (batch, k, n), then one batched product.
        let x3 = if ra == 2 { x.unsqueeze(1)? } else if xa == 1 { x.transpose(1, 2)? } else { x };
        let y3 = if rb == 2 { y.unsqueeze(2)? } else if ya == 2 { y.transpose(1, 2)? } else { y };
        let z = x3.bmm(&y3)?;
        let (batch, m, n) = (z.shape()[0], z.shape()[1], z.shape()[2]);
        let shape: Vec<isize> = match (ra, rb) {
            (2, 2) => vec![batch as isize, 1],
            (2, 3) => vec![batch as isize, n as isize],
            (3, 2) => vec![batch as isize, m as isize],
            _ => vec![batch as isize, m as isize, n as isize],
        };
        Ok(vec![z.reshape(&shape)?])
    }
    fn own_config(&self) -> Value {
        let axes = if self.axes.0 == self.axes.1 { json!(self.axes.0) } else { json!([self.axes.0, self.axes.1]) };
        json!({ "axes": axes, "normalize": self.normalize })
    }
}

impl Dot {
    /// Reads Keras's config of this layer (`layer.get_config()`); `l` names it in errors.
    pub(crate) fn from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        let v = cfg::field(l, config, "axes")?;
        let axes = match (v.as_i64(), v.as_array().map(|a| a.iter().map(|x| x.as_i64()).collect::<Vec<_>>()).as_deref()) {
            (Some(a), _) => (a as isize, a as isize),
            (None, Some([Some(a), Some(b)])) => (*a as isize, *b as isize),
            _ => return Err(cfg::bad(l, "axes", "an integer or a pair of integers", v)),
        };
        Ok(Box::new(Dot::with_axes(axes).normalize(cfg::bool_field(l, config, "normalize", false)?)))
    }
}
