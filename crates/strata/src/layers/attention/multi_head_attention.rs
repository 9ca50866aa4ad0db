//! `MultiHeadAttention`, as Keras's layer: queries, keys and values
//! projected per head, scaled dot products, a mask (given, causal, or both),
//! softmax, optional dropout on the attention weights, the heads' outputs
//! projected back.

use serde_json::{json, Map, Value};
use strata_core::{fmt_shape, Error, Result, Rng, Tensor};

use super::super::random::{random_stream_methods, seed_field, RandomStream};
use crate::initializers::Initializer;
use crate::layers::config as cfg;
use crate::layers::mask;
use crate::layers::{base_accessors, kernel_and_bias, make_kernel_and_bias_of, not_built, KernelOptions, Layer, LayerBase, Weight};

/// Keras's `_large_negative_number` for float32: what a masked score gets before the softmax.
const MASKED: f32 = -1e9;

/// Attention of a query sequence over a value sequence with several heads
/// (Keras's `MultiHeadAttention`): each head projects the query to
/// `key_dim`, the key to `key_dim` and the value to `value_dim`, weighs the
/// values by `softmax(q k / sqrt(key_dim))` over the value steps, and the
/// heads' results are projected to `output_shape` (default: the query's
/// width). Weights are Keras's: `query/kernel` `(query_dim, heads,
/// key_dim)`, `key/*`, `value/*`, `attention_output/kernel` `(heads,
/// value_dim, output)`, with their biases.
///
/// Its inputs are the query `(batch, T, dim)` and the value `(batch, S, dim)`,
/// then the key `(batch, S, dim)` with [`MultiHeadAttention::key_input`]
/// (else the value is the key), then a mask `(batch, T, S)` with
/// [`MultiHeadAttention::attention_mask_input`] (nonzero: the query step may
/// attend to the value step). [`MultiHeadAttention::use_causal_mask`] adds
/// Keras's causal mask (step `t` sees steps up to `t`). A query step that
/// may attend to nothing averages all value steps, or, with dropout or the
/// scores returned, gets zero weights: Keras's two paths differ there, and
/// Strata follows each. Self-attention gives the same tensor twice.
///
/// ```
/// use strata::prelude::*;
/// use strata::layers::MultiHeadAttention;
///
/// # fn main() -> strata::Result<()> {
/// let x = Input::new([6, 8]);
/// let y = MultiHeadAttention::new(2, 4).use_causal_mask(true).apply([&x, &x])?;
/// let model = Model::with_seed(&[x], &[y], 0)?;
/// assert_eq!(model.output_shape(), Some(&[6, 8][..]));
/// # Ok(()) }
/// ```
///
/// # Shapes
/// output `(batch, T, output_shape)`; with `return_attention_scores`, also
/// the weights `(batch, heads, T, S)`.
pub struct MultiHeadAttention {
    base: LayerBase,
    num_heads: usize,
    key_dim: usize,
    value_dim: Option<usize>,
    dropout: f32,
    output_shape: Option<usize>,
    options: KernelOptions,
    use_causal_mask: bool,
    key_input: bool,
    mask_input: bool,
    return_attention_scores: bool,
    stream: RandomStream,
    built: Option<Built>,
}

/// A projection's kernel (as Keras shapes it) and bias.
struct Projection {
    kernel: Tensor,
    bias: Option<Tensor>,
}

struct Built {
    /// Per-sample shapes of the query, value and key.
    query: Vec<usize>,
    value: Vec<usize>,
    key: Vec<usize>,
    projections: [Projection; 4],
}

const NAMES: [&str; 4] = ["query", "key", "value", "attention_output"];

impl MultiHeadAttention {
    /// `num_heads` heads of `key_dim` (value_dim defaults to key_dim), Keras's
    /// defaults: biases, glorot-uniform kernels, no dropout, no mask.
    pub fn new(num_heads: usize, key_dim: usize) -> Self {
        MultiHeadAttention {
            base: LayerBase::new("MultiHeadAttention"),
            num_heads,
            key_dim,
            value_dim: None,
            dropout: 0.0,
            output_shape: None,
            options: KernelOptions::default(),
            use_causal_mask: false,
            key_input: false,
            mask_input: false,
            return_attention_scores: false,
            stream: RandomStream::default(),
            built: None,
        }
    }
    /// Each head's value width (default `key_dim`).
    pub fn value_dim(mut self, n: usize) -> Self {
        self.value_dim = Some(n);
        self
    }
    /// Drops this share of the attention weights in training (default 0).
    pub fn dropout(mut self, rate: f32) -> Self {
        self.dropout = rate;
        self
    }
    /// The output's width (default: the query's).
    pub fn output_shape(mut self, n: usize) -> Self {
        self.output_shape = Some(n);
        self
    }
    /// Whether the projections add biases (default true).
    pub fn use_bias(mut self, on: bool) -> Self {
        self.options.use_bias = on;
        self
    }
    /// Initializer of the four kernels (default glorot uniform).
    pub fn kernel_initializer(mut self, init: Initializer) -> Self {
        self.options.kernel_initializer = init;
        self
    }
    /// Query step `t` attends only to value steps up to `t` (Keras's `use_causal_mask=True`).
    pub fn use_causal_mask(mut self, on: bool) -> Self {
        self.use_causal_mask = on;
        self
    }
    /// Takes the key as a third input (default: the value is the key).
    pub fn key_input(mut self, on: bool) -> Self {
        self.key_input = on;
        self
    }
    /// Takes an attention mask `(batch, T, S)` as the last input.
    pub fn attention_mask_input(mut self, on: bool) -> Self {
        self.mask_input = on;
        self
    }
    /// Also returns the attention weights `(batch, heads, T, S)`.
    pub fn return_attention_scores(mut self, on: bool) -> Self {
        self.return_attention_scores = on;
        self
    }
    /// Seeds this layer's dropout stream (Keras's `seed=`).
    pub fn seed(mut self, seed: u64) -> Self {
        self.stream.seed = Some(seed);
        self
    }

    fn value_width(&self) -> usize {
        self.value_dim.unwrap_or(self.key_dim)
    }

    fn expected_inputs(&self) -> usize {
        2 + self.key_input as usize + self.mask_input as usize
    }

    /// `x` `(batch, steps, width)` projected to `(batch * heads, steps, size)`.
    fn heads(&self, x: &Tensor, p: &Projection, size: usize) -> Result<Tensor> {
        let (b, t, h) = (x.shape()[0] as isize, x.shape()[1] as isize, self.num_heads as isize);
        let width = p.kernel.shape()[0] as isize;
        let mut y = x.reshape(&[b * t, width])?.matmul(&p.kernel.reshape(&[width, h * size as isize])?)?;
        if let Some(bias) = &p.bias {
            y = y.add(&bias.reshape(&[h * size as isize])?)?;
        }
        y.reshape(&[b, t, h, size as isize])?.permute(&[0, 2, 1, 3])?.reshape(&[b * h, t, size as isize])
    }

    /// The mask as 0/1 of shape `(batch, 1, T, S)`, if any: the given one,
    /// the causal one, and those the query's, value's and key's masks make
    /// (`steps [query, value, key]`; Keras's `_compute_attention_mask`:
    /// query step `i` may attend to value step `j` if both are kept), all at once.
    fn mask(&self, given: Option<&Tensor>, steps: [Option<Vec<bool>>; 3], batch: usize, t: usize, s: usize) -> Result<Option<Tensor>> {
        let given = match given {
            Some(m) => {
                if m.shape() != [batch, t, s] {
                    return Err(Error::layer(&self.base.name, format!("the attention mask must be (batch, {t}, {s}), got {}", fmt_shape(m.shape()))));
                }
                Some(mask::values(m))
            }
            None => None,
        };
        if given.is_none() && !self.use_causal_mask && steps.iter().all(Option::is_none) {
            return Ok(None);
        }
        let mut mask = given.unwrap_or_else(|| vec![true; batch * t * s]);
        let [query, value, key] = &steps;
        for (k, v) in mask.iter_mut().enumerate() {
            let (b, i, j) = (k / (t * s), (k / s) % t, k % s);
            let causal = !self.use_causal_mask || j <= i;
            let kept = |m: &Option<Vec<bool>>, step: usize, len: usize| m.as_ref().is_none_or(|m| m[b * len + step]);
            *v &= causal && kept(query, i, t) && kept(value, j, s) && kept(key, j, s);
        }
        Ok(Some(mask::from_bools(&mask, &[batch, 1, t, s])?))
    }
}

impl Layer for MultiHeadAttention {
    fn class_name(&self) -> &'static str {
        "MultiHeadAttention"
    }
    base_accessors!();
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        Ok(self.build_many(&[input_shape.to_vec(), input_shape.to_vec()], rng)?.remove(0))
    }
    fn build_many(&mut self, input_shapes: &[Vec<usize>], rng: &mut Rng) -> Result<Vec<Vec<usize>>> {
        self.base.check()?;
        let name = self.base.name.clone();
        if self.num_heads == 0 || self.key_dim == 0 || self.value_width() == 0 || self.output_shape == Some(0) {
            return Err(Error::layer(&name, format!("MultiHeadAttention needs positive num_heads, key_dim, value_dim and output_shape, received num_heads={}, key_dim={}, value_dim={}", self.num_heads, self.key_dim, self.value_width())));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::layer(&name, format!("dropout must be in [0, 1), received dropout={}", self.dropout)));
        }
        if input_shapes.len() != self.expected_inputs() {
            let what = match (self.key_input, self.mask_input) {
                (false, false) => "query and value",
                (true, false) => "query, value and key",
                (false, true) => "query, value and attention mask",
                (true, true) => "query, value, key and attention mask",
            };
            return Err(Error::layer(&name, format!("takes the {what} ({} inputs), got {}", self.expected_inputs(), input_shapes.len())));
        }
        let seq = |i: usize, what: &str| match input_shapes[i][..] {
            [t, d] if t > 0 && d > 0 => Ok((t, d)),
            _ => Err(Error::layer(&name, format!("the {what} must be (batch, steps, features), got {}", crate::layers::batch_shape(&input_shapes[i])))),
        };
        let (t, dq) = seq(0, "query")?;
        let (s, dv) = seq(1, "value")?;
        let (sk, dk) = if self.key_input { seq(2, "key")? } else { (s, dv) };
        if sk != s {
            return Err(Error::layer(&name, format!("the key and value must have as many steps, got {sk} and {s}")));
        }
        if self.mask_input && input_shapes[self.expected_inputs() - 1] != [t, s] {
            return Err(Error::layer(&name, format!("the attention mask must be (batch, {t}, {s}), got {}", crate::layers::batch_shape(&input_shapes[self.expected_inputs() - 1]))));
        }
        let (h, k, v) = (self.num_heads, self.key_dim, self.value_width());
        let out = self.output_shape.unwrap_or(dq);
        let mut make = |shape: &[usize], units: Vec<usize>| -> Result<Projection> {
            let (kernel, bias) = make_kernel_and_bias_of(&name, shape, units.iter().product(), &self.options, rng)?;
            // Keras shapes the bias per head: a variable of its own shape, not a view of one.
            let bias = bias.map(|b| Tensor::variable(b.to_vec(), &units)).transpose()?;
            Ok(Projection { kernel, bias })
        };
        let projections = [make(&[dq, h, k], vec![h, k])?, make(&[dk, h, k], vec![h, k])?, make(&[dv, h, v], vec![h, v])?, make(&[h, v, out], vec![out])?];
        self.stream.start(rng);
        self.built = Some(Built { query: vec![t, dq], value: vec![s, dv], key: vec![s, dk], projections });
        let mut shapes = vec![vec![t, out]];
        if self.return_attention_scores {
            shapes.push(vec![h, t, s]);
        }
        Ok(shapes)
    }
    fn call(&self, x: &Tensor, training: bool) -> Result<Tensor> {
        Ok(self.call_many(&[x.clone(), x.clone()], training)?.remove(0))
    }
    fn call_many(&self, inputs: &[Tensor], training: bool) -> Result<Vec<Tensor>> {
        self.call_masked(inputs, &[], training)
    }
    fn compute_mask(&self, _inputs: &[Tensor], masks: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        // Keras: the output keeps the query's mask; the scores carry none.
        let mut out = vec![None; self.num_outputs()];
        out[0] = masks.first().cloned().flatten();
        Ok(out)
    }
    fn call_masked(&self, inputs: &[Tensor], masks: &[Option<Tensor>], training: bool) -> Result<Vec<Tensor>> {
        let b = self.built.as_ref().ok_or_else(|| not_built(self))?;
        if inputs.len() != self.expected_inputs() {
            return Err(Error::layer(&self.base.name, format!("takes {} inputs, got {}", self.expected_inputs(), inputs.len())));
        }
        let (query, value) = (&inputs[0], &inputs[1]);
        let key = if self.key_input { &inputs[2] } else { value };
        for (x, shape, what) in [(query, &b.query, "query"), (value, &b.value, "value"), (key, &b.key, "key")] {
            if x.rank() != 3 || x.shape()[1..] != shape[..] || x.shape()[0] != query.shape()[0] {
                return Err(Error::layer(&self.base.name, format!("the {what} must be {}, got {}", crate::layers::batch_shape(shape), fmt_shape(x.shape()))));
            }
        }
        let (batch, t, s, h) = (query.shape()[0], b.query[0], b.value[0], self.num_heads);
        let [pq, pk, pv, po] = &b.projections;
        let q = self.heads(query, pq, self.key_dim)?.scale(1.0 / (self.key_dim as f32).sqrt());
        let k = self.heads(key, pk, self.key_dim)?;
        let v = self.heads(value, pv, self.value_width())?;
        let scores = q.bmm(&k.transpose(1, 2)?)?.reshape(&[batch as isize, h as isize, t as isize, s as isize])?;
        let step_mask = |i: usize, x: &Tensor| masks.get(i).cloned().flatten().map(|m| mask::steps_of(&self.base.name, &m, x)).transpose();
        let steps = [step_mask(0, query)?, step_mask(1, value)?, if self.key_input { step_mask(2, key)? } else { None }];
        let mask = self.mask(if self.mask_input { inputs.last() } else { None }, steps, batch, t, s)?;
        // Masked scores become -1e9 (no gradient reaches them). Keras's two paths then differ on a
        // query step that may attend to nothing: its fused path (no dropout, no scores returned)
        // averages every value step; its Softmax-layer path zeroes the weights. Strata does as Keras.
        let zero_unattended = self.dropout > 0.0 || self.return_attention_scores;
        let mut weights = match &mask {
            Some(m) => {
                let p = scores.mul(m)?.add(&m.add_scalar(-1.0).scale(-MASKED))?.softmax(-1)?;
                if zero_unattended { p.mul(m)? } else { p }
            }
            None => scores.softmax(-1)?,
        };
        if training && self.dropout > 0.0 {
            let drop = self.stream.dropout_mask(&self.base.name, batch, h * t * s, self.dropout)?;
            weights = weights.mul(&Tensor::new(drop, weights.shape())?)?;
        }
        let heads = weights.reshape(&[(batch * h) as isize, t as isize, s as isize])?.bmm(&v)?;
        let width = (h * self.value_width()) as isize;
        let joined = heads.reshape(&[batch as isize, h as isize, t as isize, self.value_width() as isize])?.permute(&[0, 2, 1, 3])?.reshape(&[(batch * t) as isize, width])?;
        let out_width = po.kernel.shape()[2] as isize;
        let mut y = joined.matmul(&po.kernel.reshape(&[width, out_width])?)?;
        if let Some(bias) = &po.bias {
            y = y.add(bias)?;
        }
        let y = y.reshape(&[batch as isize, t as isize, out_width])?;
        Ok(if self.return_attention_scores { vec![y, weights] } else { vec![y] })
    }
    fn num_outputs(&self) -> usize {
        1 + self.return_attention_scores as usize
    }
    fn weights(&self) -> Vec<Weight> {
        let Some(b) = &self.built else { return Vec::new() };
        let mut out = Vec::new();
        for (name, p) in NAMES.iter().zip(&b.projections) {
            out.extend(kernel_and_bias(&p.kernel, p.bias.as_ref(), &self.options.weight_options).into_iter().map(|w| Weight { name: format!("{name}/{}", w.name), ..w }));
        }
        out
    }
    fn keras_h5_paths(&self) -> Vec<String> {
        let Some(b) = &self.built else { return Vec::new() };
        let groups = ["query_dense", "key_dense", "value_dense", "output_dense"];
        groups.iter().zip(&b.projections).flat_map(|(g, p)| (0..1 + p.bias.is_some() as usize).map(move |i| format!("{g}/vars/{i}"))).collect()
    }
    random_stream_methods!();
    fn own_config(&self) -> Value {
        let mut config = json!({
            "num_heads": self.num_heads,
            "key_dim": self.key_dim,
            "value_dim": self.value_width(),
            "dropout": self.dropout,
            "use_bias": self.options.use_bias,
            "use_gate": false,
            "output_shape": self.output_shape,
            "attention_axes": [1],
            "sliding_window": null,
            "kernel_initializer": self.options.kernel_initializer.config(),
            "bias_initializer": self.options.bias_initializer.config(),
            "seed": self.stream.seed,
        });
        self.options.weight_options.write_config(&mut config);
        config
    }
    fn call_kwargs(&mut self, kwargs: &Value) -> Result<Vec<String>> {
        let mut tensors = Vec::new();
        for (name, v) in kwargs.as_object().into_iter().flatten() {
            match name.as_str() {
                "use_causal_mask" => self.use_causal_mask = v.as_bool().unwrap_or(false),
                "return_attention_scores" => self.return_attention_scores = v.as_bool().unwrap_or(false),
                "key" if !v.is_null() => self.key_input = true,
                "attention_mask" if !v.is_null() => self.mask_input = true,
                "query_mask" | "value_mask" | "key_mask" if !v.is_null() => return Err(Error::layer(&self.base.name, format!("{name} (a Keras mask carried from an earlier layer) is not supported; give an attention_mask"))),
                _ => {}
            }
        }
        tensors.extend(["key", "attention_mask"].iter().filter(|n| kwargs.get(**n).is_some_and(|v| !v.is_null())).map(|n| n.to_string()));
        Ok(tensors)
    }
    fn keras_build_config(&self, shapes: Vec<Value>) -> Value {
        let mut dict = json!({ "query_shape": shapes.first(), "value_shape": shapes.get(1) });
        if self.key_input {
            dict["key_shape"] = shapes.get(2).cloned().unwrap_or(Value::Null);
        }
        json!({ "shapes_dict": dict })
    }
    fn split_call(&self, inputs: Vec<Value>) -> (Vec<Value>, Map<String, Value>) {
        let mut kwargs = Map::new();
        let mut rest = inputs.into_iter();
        let args: Vec<Value> = rest.by_ref().take(2).collect();
        if self.key_input {
            kwargs.insert("key".into(), rest.next().unwrap_or(Value::Null));
        }
        if self.mask_input {
            kwargs.insert("attention_mask".into(), rest.next().unwrap_or(Value::Null));
        }
        kwargs.insert("use_causal_mask".into(), Value::from(self.use_causal_mask));
        if self.return_attention_scores {
            kwargs.insert("return_attention_scores".into(), Value::from(true));
        }
        (args, kwargs)
    }
}

impl MultiHeadAttention {
    /// Reads Keras's config; `l` names it in errors. Gated attention,
    /// sliding windows and attention over other axes are refused.
    pub(crate) fn from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        let mut layer = MultiHeadAttention::new(cfg::usize_field(l, config, "num_heads")?, cfg::usize_field(l, config, "key_dim")?);
        layer.value_dim = cfg::optional_usize_field(l, config, "value_dim")?;
        layer.dropout = cfg::num_field(l, config, "dropout", 0.0)?;
        layer.output_shape = match config.get("output_shape") {
            None | Some(Value::Null) => None,
            Some(Value::Number(_)) => Some(cfg::usize_field(l, config, "output_shape")?),
            Some(v @ Value::Array(a)) => match a[..] {
                [ref n] => Some(n.as_u64().ok_or_else(|| cfg::bad(l, "output_shape", "a number or a list of one number", v))? as usize),
                _ => return Err(cfg::bad(l, "output_shape", "a number or a list of one number (Strata projects to one axis)", v)),
            },
            Some(v) => return Err(cfg::bad(l, "output_shape", "a number or null", v)),
        };
        match config.get("attention_axes") {
            None | Some(Value::Null) => {}
            Some(v) if v == &json!([1]) || v == &json!(1) || v == &json!([-2]) => {}
            Some(v) => return Err(cfg::bad(l, "attention_axes", "[1] (attention over the steps of (batch, steps, features); Strata supports no other)", v)),
        }
        cfg::require(l, config, "use_gate", &Value::Bool(false))?;
        if config.get("sliding_window").is_some_and(|v| !v.is_null()) {
            return Err(cfg::bad(l, "sliding_window", "null (Strata supports no sliding window)", &config["sliding_window"]));
        }
        layer.options = cfg::kernel_options_field(l, config)?;
        layer.stream.seed = seed_field(l, config)?;
        Ok(Box::new(layer))
    }
}
