//! `Bidirectional`: a recurrent layer read forwards and a copy of it read
//! backwards, their outputs merged, as Keras's wrapper.

use serde_json::{json, Value};
use strata_core::{Error, Result, Rng, Tensor};

use super::wrapper::{nested_config, nested_from_config, remade, weights_under};
use crate::layers::{base_accessors, not_built, Layer, LayerBase, Weight};

/// How `Bidirectional` joins the forward and backward outputs (Keras's `merge_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeMode {
    /// Side by side on the last axis (Keras's default).
    Concat,
    /// Added.
    Sum,
    /// Averaged.
    Ave,
    /// Multiplied.
    Mul,
    /// Both returned, forward first (Keras's `None`).
    None,
}

impl MergeMode {
    fn name(self) -> Value {
        match self {
            MergeMode::Concat => "concat".into(),
            MergeMode::Sum => "sum".into(),
            MergeMode::Ave => "ave".into(),
            MergeMode::Mul => "mul".into(),
            MergeMode::None => Value::Null,
        }
    }
    fn parse(l: &str, v: &Value) -> Result<MergeMode> {
        Ok(match v.as_str() {
            _ if v.is_null() => MergeMode::None,
            Some("concat") => MergeMode::Concat,
            Some("sum") => MergeMode::Sum,
            Some("ave") => MergeMode::Ave,
            Some("mul") => MergeMode::Mul,
            _ => return Err(Error::layer(l, format!("unknown merge_mode {v} (known: 'concat', 'sum', 'ave', 'mul', null)"))),
        })
    }
}

/// A recurrent layer run over the sequence in both directions (Keras's
/// `Bidirectional`): the forward copy `forward_<name>` reads it first to
/// last, the backward copy `backward_<name>` (the same config with
/// `go_backwards`, or a layer given with [`Bidirectional::backward_layer`])
/// last to first; with `return_sequences`, the backward outputs are
/// reversed back into the sequence's order before merging. Initial states
/// are the inputs after the sequence, the forward layer's then the backward
/// one's; with `return_state`, the final states follow the output(s) in
/// the same order.
///
/// ```
/// use strata::prelude::*;
/// use strata::layers::{Bidirectional, LSTM};
///
/// # fn main() -> strata::Result<()> {
/// let mut model = Sequential::with_seed(0);
/// model.add(Bidirectional::new(LSTM::new(8).return_sequences(true)).input_shape([5, 3]))?;
/// assert_eq!(model.predict(&Tensor::zeros(&[2, 5, 3]), 32)?.shape(), [2, 5, 16]);
/// # Ok(()) }
/// ```
///
/// # Shapes
/// input `(batch, time, features)`; output as the wrapped layer's, with
/// `Concat` twice as wide.
pub struct Bidirectional {
    base: LayerBase,
    layers: Option<(Box<dyn Layer>, Box<dyn Layer>)>,
    merge_mode: MergeMode,
    return_sequences: bool,
    return_state: bool,
    built: bool,
}

/// `layer`'s boolean config field `name`; a layer without it is not recurrent.
fn flag(layer: &dyn Layer, name: &str) -> Result<bool> {
    layer.config().get(name).and_then(Value::as_bool).ok_or_else(|| Error::argument("layer", format!("Bidirectional wraps a recurrent layer (SimpleRNN, LSTM, GRU), not '{}' ({}), which has no {name}", layer.name(), layer.class_name())))
}

/// `name` without a leading `forward_` or `backward_`.
fn plain_name(name: &str) -> &str {
    name.strip_prefix("forward_").or_else(|| name.strip_prefix("backward_")).unwrap_or(name)
}

impl Bidirectional {
    /// Wraps `layer`; its backward copy has the same config with `go_backwards`. Merge mode `Concat`.
    pub fn new(layer: impl Layer + 'static) -> Self {
        let mut wrapper = Bidirectional::empty();
        let made = wrapper.wrap(&layer, None);
        wrapper.base.keep_error(made);
        wrapper
    }

    fn empty() -> Self {
        Bidirectional { base: LayerBase::new("Bidirectional"), layers: None, merge_mode: MergeMode::Concat, return_sequences: false, return_state: false, built: false }
    }

    fn wrap(&mut self, layer: &dyn Layer, backward: Option<Box<dyn Layer>>) -> Result<()> {
        let name = plain_name(layer.name()).to_string();
        // As Keras: masked steps of returned sequences output 0 in both directions.
        let zero_output = ("zero_output_for_mask", json!(flag(layer, "return_sequences")?));
        let forward = remade(layer, &[("name", json!(format!("forward_{name}"))), zero_output.clone()])?;
        let backward = match backward {
            Some(b) => remade(b.as_ref(), &[zero_output])?,
            None => remade(layer, &[("name", json!(format!("backward_{name}"))), ("go_backwards", json!(true)), zero_output])?,
        };
        if flag(forward.as_ref(), "go_backwards")? == flag(backward.as_ref(), "go_backwards")? {
            return Err(Error::argument("backward_layer", "the forward and backward layers must differ in go_backwards"));
        }
        for field in ["return_sequences", "return_state"] {
            if flag(forward.as_ref(), field)? != flag(backward.as_ref(), field)? {
                return Err(Error::argument("backward_layer", format!("the forward and backward layers must agree on {field}")));
            }
        }
        (self.return_sequences, self.return_state) = (flag(forward.as_ref(), "return_sequences")?, flag(forward.as_ref(), "return_state")?);
        self.layers = Some((forward, backward));
        Ok(())
    }

    /// How the two directions' outputs are joined (default `Concat`).
    pub fn merge_mode(mut self, mode: MergeMode) -> Self {
        self.merge_mode = mode;
        self
    }

    /// Reads the sequence backwards with this layer instead of a copy of the forward one
    /// (Keras's `backward_layer=`; it must have `go_backwards` set and the same outputs).
    pub fn backward_layer(mut self, layer: impl Layer + 'static) -> Self {
        if let Some((forward, _)) = self.layers.take() {
            let made = self.wrap(forward.as_ref(), Some(Box::new(layer)));
            self.base.keep_error(made);
        }
        self
    }

    /// The states each direction carries (`h`, and `c` for an LSTM).
    fn states(&self) -> usize {
        match self.layers.as_ref().map(|(f, _)| f.class_name()) {
            Some("LSTM") => 2,
            _ => 1,
        }
    }

    fn layers(&self) -> Result<&(Box<dyn Layer>, Box<dyn Layer>)> {
        self.base.check()?;
        self.layers.as_ref().ok_or_else(|| Error::layer(&self.base.name, "has no layer to wrap"))
    }

    /// The merged output shape(s) from one direction's output shape.
    fn merged_shapes(&self, one: &[usize]) -> Vec<Vec<usize>> {
        match self.merge_mode {
            MergeMode::Concat => {
                let mut s = one.to_vec();
                *s.last_mut().expect("a recurrent output has units") *= 2;
                vec![s]
            }
            MergeMode::None => vec![one.to_vec(), one.to_vec()],
            _ => vec![one.to_vec()],
        }
    }

    fn merge(&self, y: Tensor, y_rev: Tensor) -> Result<Vec<Tensor>> {
        Ok(match self.merge_mode {
            MergeMode::Concat => vec![Tensor::concat(&[y, y_rev], -1)?],
            MergeMode::Sum => vec![y.add(&y_rev)?],
            MergeMode::Ave => vec![y.add(&y_rev)?.scale(0.5)],
            MergeMode::Mul => vec![y.mul(&y_rev)?],
            MergeMode::None => vec![y, y_rev],
        })
    }
}

impl Layer for Bidirectional {
    fn class_name(&self) -> &'static str {
        "Bidirectional"
    }
    base_accessors!();
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        Ok(self.build_many(&[input_shape.to_vec()], rng)?.remove(0))
    }
    fn build_many(&mut self, input_shapes: &[Vec<usize>], rng: &mut Rng) -> Result<Vec<Vec<usize>>> {
        self.layers()?;
        let name = self.base.name.clone();
        let states = self.states();
        let (x, initial) = input_shapes.split_first().ok_or_else(|| Error::layer(&name, "takes a sequence"))?;
        if !initial.is_empty() && initial.len() != 2 * states {
            return Err(Error::layer(&name, format!("takes the sequence and optionally {} initial states (the forward layer's, then the backward one's), got {} inputs", 2 * states, input_shapes.len())));
        }
        let half = initial.len() / 2;
        let (forward, backward) = self.layers.as_mut().expect("checked");
        let with = |s: &[Vec<usize>]| std::iter::once(x.clone()).chain(s.iter().cloned()).collect::<Vec<_>>();
        let out = forward.build_many(&with(&initial[..half]), rng).map_err(|e| e.in_layer(&name))?;
        backward.build_many(&with(&initial[half..]), rng).map_err(|e| e.in_layer(&name))?;
        let mut shapes = self.merged_shapes(&out[0]);
        if self.return_state {
            shapes.extend(out[1..].iter().cloned().chain(out[1..].iter().cloned()));
        }
        self.built = true;
        Ok(shapes)
    }
    fn call(&self, x: &Tensor, training: bool) -> Result<Tensor> {
        Ok(self.call_many(std::slice::from_ref(x), training)?.remove(0))
    }
    fn call_many(&self, inputs: &[Tensor], training: bool) -> Result<Vec<Tensor>> {
        self.call_masked(inputs, &[], training)
    }
    fn call_masked(&self, inputs: &[Tensor], masks: &[Option<Tensor>], training: bool) -> Result<Vec<Tensor>> {
        if !self.built {
            return Err(not_built(self));
        }
        let (forward, backward) = self.layers()?;
        let (x, initial) = inputs.split_first().ok_or_else(|| Error::layer(&self.base.name, "takes a sequence"))?;
        let half = initial.len() / 2;
        let with = |s: &[Tensor]| std::iter::once(x.clone()).chain(s.iter().cloned()).collect::<Vec<_>>();
        let run = |layer: &dyn Layer, inputs: Vec<Tensor>| match masks.first().cloned().flatten() {
            Some(m) => layer.call_masked(&inputs, &[Some(m)], training),
            None => layer.call_many(&inputs, training),
        };
        let mut fwd = run(forward.as_ref(), with(&initial[..half]))?;
        let mut bwd = run(backward.as_ref(), with(&initial[half..]))?;
        let (y, mut y_rev) = (fwd.remove(0), bwd.remove(0));
        if self.return_sequences {
            let steps = y_rev.shape()[1];
            y_rev = y_rev.gather(1, &(0..steps).rev().collect::<Vec<_>>())?;
        }
        let mut out = self.merge(y, y_rev)?;
        if self.return_state {
            out.extend(fwd.into_iter().chain(bwd));
        }
        Ok(out)
    }
    fn compute_mask(&self, _inputs: &[Tensor], masks: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let mut out = vec![None; self.num_outputs()];
        if self.return_sequences {
            let merged = if self.merge_mode == MergeMode::None { 2 } else { 1 };
            out[..merged].fill(masks.first().cloned().flatten());
        }
        Ok(out)
    }
    fn num_outputs(&self) -> usize {
        let merged = if self.merge_mode == MergeMode::None { 2 } else { 1 };
        merged + if self.return_state { 2 * self.states() } else { 0 }
    }
    fn weights(&self) -> Vec<Weight> {
        match &self.layers {
            Some((f, b)) => weights_under(f.as_ref()).into_iter().chain(weights_under(b.as_ref())).collect(),
            None => Vec::new(),
        }
    }
    fn random_streams(&self) -> Vec<(String, [u64; 4])> {
        let Some((f, b)) = &self.layers else { return Vec::new() };
        let under = |l: &dyn Layer| l.random_streams().into_iter().map(|(n, s)| (format!("{}/{n}", l.name()), s)).collect::<Vec<_>>();
        under(f.as_ref()).into_iter().chain(under(b.as_ref())).collect()
    }
    fn set_random_streams(&self, streams: &[(String, [u64; 4])]) -> Result<()> {
        let (forward, backward) = self.layers()?;
        for layer in [forward, backward] {
            let prefix = format!("{}/", layer.name());
            let mine: Vec<(String, [u64; 4])> = streams.iter().filter_map(|(n, s)| n.strip_prefix(&prefix).map(|n| (n.to_string(), *s))).collect();
            layer.set_random_streams(&mine)?;
        }
        match streams.iter().find(|(n, _)| !n.starts_with(&format!("{}/", forward.name())) && !n.starts_with(&format!("{}/", backward.name()))) {
            Some((n, _)) => Err(Error::layer(&self.base.name, format!("has no random stream '{n}'"))),
            None => Ok(()),
        }
    }
    fn keras_h5_paths(&self) -> Vec<String> {
        let Some((f, b)) = &self.layers else { return Vec::new() };
        let under = |group: &str, l: &dyn Layer| l.keras_h5_paths().into_iter().map(|p| format!("{group}/{p}")).collect::<Vec<_>>();
        under("forward_layer", f.as_ref()).into_iter().chain(under("backward_layer", b.as_ref())).collect()
    }
    fn call_kwargs(&mut self, kwargs: &Value) -> Result<Vec<String>> {
        Ok(super::initial_state_kwargs(kwargs))
    }
    fn split_call(&self, inputs: Vec<Value>) -> (Vec<Value>, serde_json::Map<String, Value>) {
        super::initial_state_split(inputs)
    }
    fn own_config(&self) -> Value {
        let mut config = json!({ "merge_mode": self.merge_mode.name() });
        if let Some((f, b)) = &self.layers {
            config["layer"] = nested_config(f.as_ref());
            config["backward_layer"] = nested_config(b.as_ref());
        }
        config
    }
}

impl Bidirectional {
    /// Reads Keras's config (`layer`, optional `backward_layer`, `merge_mode`); `l` names it in errors.
    pub(crate) fn from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        let forward = nested_from_config(l, config, "layer")?;
        let backward = match config.get("backward_layer") {
            Some(v) if !v.is_null() => Some(nested_from_config(l, config, "backward_layer")?),
            _ => None,
        };
        let mut layer = Bidirectional::empty();
        layer.base.name = l.to_string();
        layer.wrap(forward.as_ref(), backward).map_err(|e| e.in_layer(l))?;
        if let Some(mode) = config.get("merge_mode") {
            layer.merge_mode = MergeMode::parse(l, mode)?;
        }
        Ok(Box::new(layer))
    }
}
