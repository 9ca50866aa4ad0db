//! `Rescaling` (`x * scale + offset`) and `Normalization` (`(x - mean) /
//! sqrt(variance)`, the statistics given or computed by `adapt`).

use serde_json::{json, Value};
use strata_core::backend::Update;
use strata_core::{fmt_shape, Error, Result, Rng, Tensor};

use super::super::{base_accessors, check_input, not_built, Layer, LayerBase, Weight};
use crate::layers::config as cfg;

/// A number or one per channel, as Keras's `scale` and `offset`.
fn values_config(v: &[f32]) -> Value {
    if v.len() == 1 { json!(v[0]) } else { json!(v) }
}

fn values_field(layer: &str, config: &Value, name: &str, default: f32) -> Result<Vec<f32>> {
    match config.get(name) {
        None | Some(Value::Null) => Ok(vec![default]),
        Some(Value::Number(n)) => Ok(vec![n.as_f64().unwrap_or(0.0) as f32]),
        Some(v @ Value::Array(a)) => a.iter().map(|x| x.as_f64().map(|x| x as f32).ok_or_else(|| cfg::bad(layer, name, "a number or a list of numbers", v))).collect(),
        Some(v) => Err(cfg::bad(layer, name, "a number or a list of numbers", v)),
    }
}

/// `x * scale + offset` (Keras's `Rescaling`): `Rescaling::new(1.0 / 255.0)`
/// maps bytes to `[0, 1]`, `.offset(-1.0)` with scale `1 / 127.5` to `[-1, 1]`.
///
/// # Shapes
/// output shape = input shape; a per-channel scale or offset has the last axis's length.
pub struct Rescaling {
    base: LayerBase,
    scale: Vec<f32>,
    offset: Vec<f32>,
    built: Option<Vec<usize>>,
}

impl Rescaling {
    /// Multiplies by `scale`, offset 0.
    pub fn new(scale: f32) -> Self {
        Rescaling { base: LayerBase::new("Rescaling"), scale: vec![scale], offset: vec![0.0], built: None }
    }
    /// Adds `offset` after scaling (default 0).
    pub fn offset(mut self, offset: f32) -> Self {
        self.offset = vec![offset];
        self
    }
    /// One scale per channel (the last axis).
    pub fn per_channel(mut self, scale: Vec<f32>, offset: Vec<f32>) -> Self {
        (self.scale, self.offset) = (scale, offset);
        self
    }
    fn values(&self, v: &[f32]) -> Result<Tensor> {
        Tensor::new(v.to_vec(), &[v.len()])
    }
}

impl Layer for Rescaling {
    fn passes_mask(&self) -> bool {
        true
    }
    fn class_name(&self) -> &'static str {
        "Rescaling"
    }
    base_accessors!();
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let channels = input_shape.last().copied().unwrap_or(1);
        for (name, v) in [("scale", &self.scale), ("offset", &self.offset)] {
            if !(v.len() == 1 || v.len() == channels) || v.iter().any(|x| !x.is_finite()) {
                return Err(Error::layer(&self.base.name, format!("Rescaling's {name} must be one finite number or one per channel ({channels}), received {name}={v:?}")));
            }
        }
        self.built = Some(input_shape.to_vec());
        Ok(input_shape.to_vec())
    }
    fn call(&self, x: &Tensor, _training: bool) -> Result<Tensor> {
        check_input(self, x, self.built.as_ref().ok_or_else(|| not_built(self))?)?;
        let scaled = match self.scale[..] {
            [s] => x.scale(s),
            _ => x.mul(&self.values(&self.scale)?)?,
        };
        match self.offset[..] {
            [o] => Ok(scaled.add_scalar(o)),
            _ => scaled.add(&self.values(&self.offset)?),
        }
    }
    fn own_config(&self) -> Value {
        json!({ "scale": values_config(&self.scale), "offset": values_config(&self.offset) })
    }
}

impl Rescaling {
    /// Reads Keras's config of this layer; `l` names it in errors.
    pub(crate) fn from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        let mut layer = Rescaling::new(1.0);
        layer.scale = values_field(l, config, "scale", 1.0)?;
        layer.offset = values_field(l, config, "offset", 0.0)?;
        Ok(Box::new(layer))
    }
}

/// Keras's `backend.epsilon()`: the smallest standard deviation divided by.
const EPSILON: f32 = 1e-7;

/// Standardises inputs: `(x - mean) / max(sqrt(variance), 1e-7)` over the
/// kept `axis` (default the last: one mean per channel; `None`: one for
/// all), as Keras's `Normalization`. The statistics are given
/// ([`Normalization::mean_variance`], saved in the config) or computed from
/// data by [`Layer::adapt`] (saved as the weights `mean`, `variance`, `count`).
/// `invert` maps standardised values back.
///
/// # Shapes
/// output shape = input shape.
pub struct Normalization {
    base: LayerBase,
    /// Kept axes, Keras's numbering (the batch is axis 0; negative from the end); empty: none kept.
    axis: Vec<isize>,
    given: Option<(Vec<f32>, Vec<f32>)>,
    invert: bool,
    /// Statistics computed by `adapt` before the layer was built.
    adapted: Option<(Tensor, Tensor, usize)>,
    built: Option<Built>,
}

struct Built {
    input_shape: Vec<usize>,
    /// Mean and variance shaped for broadcasting against `[1, input_shape...]`.
    mean: Tensor,
    variance: Tensor,
    /// The adapted statistics' weights (mean, variance, count), when not given.
    weights: Option<[Tensor; 3]>,
}

impl Default for Normalization {
    fn default() -> Self {
        Self::new()
    }
}

impl Normalization {
    /// One mean and variance per channel (Keras's `axis=-1`), to be adapted or given.
    pub fn new() -> Self {
        Normalization { base: LayerBase::new("Normalization"), axis: vec![-1], given: None, invert: false, adapted: None, built: None }
    }
    /// The axes that keep their own statistics (Keras's `axis`; `&[]` for Keras's `None`: one mean for everything).
    pub fn axis(mut self, axis: &[isize]) -> Self {
        self.axis = axis.to_vec();
        self
    }
    /// Fixed statistics: one number each, or one per kept position.
    pub fn mean_variance(mut self, mean: Vec<f32>, variance: Vec<f32>) -> Self {
        self.given = Some((mean, variance));
        self
    }
    /// Maps standardised values back: `mean + x * sqrt(variance)` (default false).
    pub fn invert(mut self, invert: bool) -> Self {
        self.invert = invert;
        self
    }

    /// Positive kept axes of an input of `rank` (batch included), or an error naming the layer.
    fn keep_axes(&self, rank: usize) -> Result<Vec<usize>> {
        let mut keep = Vec::new();
        for &a in &self.axis {
            let d = if a < 0 { a + rank as isize } else { a };
            if d < 1 || d >= rank as isize {
                return Err(Error::layer(&self.base.name, format!("axis {a} is not a kept axis of inputs of rank {rank} (the batch axis 0 cannot be kept)")));
            }
            keep.push(d as usize);
        }
        keep.sort_unstable();
        keep.dedup();
        Ok(keep)
    }

    /// `[1, ...]` with the kept axes' sizes and 1 elsewhere, and the statistics' own shape.
    fn shapes(full: &[usize], keep: &[usize]) -> (Vec<usize>, Vec<usize>) {
        let broadcast = (0..full.len()).map(|d| if keep.contains(&d) { full[d] } else { 1 }).collect();
        (broadcast, keep.iter().map(|&d| full[d]).collect())
    }

    /// Mean and (population) variance of `data` over all but the kept axes, shaped `stats`.
    fn statistics(&self, data: &Tensor, keep: &[usize], stats: &[usize]) -> Result<(Tensor, Tensor)> {
        let _g = strata_core::no_grad();
        let mut mean = data.clone();
        for d in (0..data.rank()).filter(|d| !keep.contains(d)) {
            mean = mean.mean_axis(d as isize, true)?;
        }
        let mut variance = data.sub(&mean)?.square();
        for d in (0..data.rank()).filter(|d| !keep.contains(d)) {
            variance = variance.mean_axis(d as isize, true)?;
        }
        let stats: Vec<isize> = stats.iter().map(|&s| s as isize).collect();
        Ok((mean.reshape(&stats)?, variance.reshape(&stats)?))
    }
}

impl Layer for Normalization {
    fn passes_mask(&self) -> bool {
        true
    }
    fn class_name(&self) -> &'static str {
        "Normalization"
    }
    base_accessors!();
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let full: Vec<usize> = std::iter::once(1).chain(input_shape.iter().copied()).collect();
        let keep = self.keep_axes(full.len())?;
        let (broadcast, stats) = Self::shapes(&full, &keep);
        let numel: usize = stats.iter().product();
        let as_isize = |s: &[usize]| s.iter().map(|&d| d as isize).collect::<Vec<_>>();
        let (mean, variance, weights) = match (&self.given, self.adapted.take()) {
            (Some((m, v)), _) => {
                let fit = |name: &str, x: &[f32]| -> Result<Tensor> {
                    match x.len() {
                        1 => Ok(Tensor::full(&broadcast, x[0])),
                        n if n == numel => Tensor::new(x.to_vec(), &broadcast),
                        _ => Err(Error::layer(&self.base.name, format!("{name} has {} values; inputs of shape {} with axis {:?} need 1 or {numel}", x.len(), fmt_shape(input_shape), self.axis))),
                    }
                };
                if v.iter().any(|v| *v < 0.0 || !v.is_finite()) || m.iter().any(|m| !m.is_finite()) {
                    return Err(Error::layer(&self.base.name, format!("mean must be finite and variance finite and non-negative, received mean={m:?}, variance={v:?}")));
                }
                (fit("mean", m)?, fit("variance", v)?, None)
            }
            (None, adapted) => {
                let (m, v, count) = match adapted {
                    Some((m, v, c)) if m.shape() == stats => (m, v, c),
                    Some((m, ..)) => return Err(Error::layer(&self.base.name, format!("was adapted on data whose statistics have shape {}, but inputs of shape {} need {}", fmt_shape(m.shape()), fmt_shape(input_shape), fmt_shape(&stats)))),
                    None => (Tensor::zeros(&stats), Tensor::full(&stats, 1.0), 0),
                };
                let (m, v) = (Tensor::new(m.to_vec(), &stats)?, Tensor::new(v.to_vec(), &stats)?);
                let (bm, bv) = (m.reshape(&as_isize(&broadcast))?, v.reshape(&as_isize(&broadcast))?);
                (bm, bv, Some([m, v, Tensor::scalar(count as f32)]))
            }
        };
        self.built = Some(Built { input_shape: input_shape.to_vec(), mean, variance, weights });
        Ok(input_shape.to_vec())
    }
    fn call(&self, x: &Tensor, _training: bool) -> Result<Tensor> {
        let b = self.built.as_ref().ok_or_else(|| not_built(self))?;
        check_input(self, x, &b.input_shape)?;
        // Adapted weights may have been assigned since build: read them, not a copy.
        let (mean, variance) = match &b.weights {
            Some([m, v, _]) => (m.reshape(&shape_of(b.mean.shape()))?, v.reshape(&shape_of(b.variance.shape()))?),
            None => (b.mean.clone(), b.variance.clone()),
        };
        let std = variance.sqrt().clip(EPSILON, f32::MAX);
        match self.invert {
            true => x.mul(&std)?.add(&mean),
            false => x.sub(&mean)?.div(&std),
        }
    }
    fn adapt(&mut self, data: &Tensor) -> Result<()> {
        if self.given.is_some() {
            return Err(Error::layer(&self.base.name, "has a fixed mean and variance (given as arguments); adapt computes them only when they are not given"));
        }
        if data.rank() < 2 || data.numel() == 0 {
            return Err(Error::layer(&self.base.name, format!("cannot adapt on empty data (shape {}): it needs at least one sample", fmt_shape(data.shape()))));
        }
        if !data.all_finite() {
            return Err(Error::layer(&self.base.name, "cannot adapt on data with NaN or infinite values"));
        }
        let keep = self.keep_axes(data.rank())?;
        let (_, stats) = Self::shapes(data.shape(), &keep);
        let (mean, variance) = self.statistics(data, &keep, &stats)?;
        let count = data.shape()[0];
        match self.built.as_ref().and_then(|b| b.weights.as_ref().map(|w| (b, w))) {
            Some((b, [m, v, c])) => {
                if b.input_shape[..] != data.shape()[1..] {
                    return Err(Error::layer(&self.base.name, format!("expected data of shape {}, got {}", super::super::batch_shape(&b.input_shape), fmt_shape(data.shape()))));
                }
                m.backend().update(Update::Assign, m, &[], &mean)?;
                v.backend().update(Update::Assign, v, &[], &variance)?;
                c.backend().update(Update::Assign, c, &[], &Tensor::scalar(count as f32))?;
            }
            None => self.adapted = Some((mean, variance, count)),
        }
        Ok(())
    }
    fn weights(&self) -> Vec<Weight> {
        let Some([m, v, c]) = self.built.as_ref().and_then(|b| b.weights.clone()) else { return Vec::new() };
        vec![Weight::new("mean", m, false), Weight::new("variance", v, false), Weight::new("count", c, false)]
    }
    fn own_config(&self) -> Value {
        let (mean, variance) = match &self.given {
            Some((m, v)) => (values_config(m), values_config(v)),
            None => (Value::Null, Value::Null),
        };
        json!({ "axis": self.axis, "invert": self.invert, "mean": mean, "variance": variance })
    }
}

fn shape_of(s: &[usize]) -> Vec<isize> {
    s.iter().map(|&d| d as isize).collect()
}

impl Normalization {
    /// Reads Keras's config of this layer; `l` names it in errors.
    pub(crate) fn from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        let axis = match config.get("axis") {
            None => vec![-1],
            Some(Value::Null) => vec![],
            Some(Value::Number(n)) => vec![n.as_i64().ok_or_else(|| cfg::bad(l, "axis", "an integer, a list of integers or null", &config["axis"]))? as isize],
            Some(v @ Value::Array(a)) => a.iter().map(|x| x.as_i64().map(|x| x as isize).ok_or_else(|| cfg::bad(l, "axis", "an integer, a list of integers or null", v))).collect::<Result<_>>()?,
            Some(v) => return Err(cfg::bad(l, "axis", "an integer, a list of integers or null", v)),
        };
        let mut layer = Normalization::new().axis(&axis).invert(cfg::bool_field(l, config, "invert", false)?);
        let given = |name: &str| config.get(name).is_some_and(|v| !v.is_null());
        match (given("mean"), given("variance")) {
            (true, true) => layer = layer.mean_variance(flat(l, config, "mean")?, flat(l, config, "variance")?),
            (false, false) => {}
            _ => return Err(Error::layer(l, "Normalization needs both mean and variance, or neither (to adapt)")),
        }
        Ok(Box::new(layer))
    }
}

/// A number or a (nested) list of numbers, flattened.
fn flat(l: &str, config: &Value, name: &str) -> Result<Vec<f32>> {
    fn walk(v: &Value, out: &mut Vec<f32>) -> bool {
        match v {
            Value::Number(n) => n.as_f64().map(|x| out.push(x as f32)).is_some(),
            Value::Array(a) => a.iter().all(|x| walk(x, out)),
            _ => false,
        }
    }
    let mut out = Vec::new();
    match walk(&config[name], &mut out) {
        true => Ok(out),
        false => Err(cfg::bad(l, name, "a number or a list of numbers", &config[name])),
    }
}
