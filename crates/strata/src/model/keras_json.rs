//! Keras's model JSON (`model.to_json()`), both ways: a `Sequential` as a
//! list of layers, a `Functional` model as layers with the calls that feed
//! them (`inbound_nodes`, each input named `[layer, call, output]`), its
//! inputs and outputs, and the `compile_config` either one has.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Value};
use strata_core::{DType, Error, Result};

use super::compile::Compile;
use super::functional::Model;
use super::graph::{Apply, Input, SymbolicTensor};
use super::sequential::Sequential;
use crate::io::keras_config;
use crate::layers::{Layer, LayerRef};
use crate::{losses, optimizers};

fn bad(msg: impl Into<String>) -> Error {
    Error::argument("model config", msg)
}

/// `[null, d1, d2, ...]`: a shape as Keras writes a batch shape.
fn batch_shape(shape: &[usize]) -> Value {
    Value::Array(std::iter::once(Value::Null).chain(shape.iter().map(|&d| Value::from(d))).collect())
}

fn input_layer(name: &str, shape: &[usize], dtype: &str) -> Value {
    json!({
        "module": "keras.layers", "class_name": "InputLayer", "registered_name": null,
        "config": { "batch_shape": batch_shape(shape), "dtype": dtype, "sparse": false, "name": name },
    })
}

fn layer_entry(layer: &LayerRef) -> Value {
    let module = match layer.class_name() {
        "Sequential" => "keras",
        "Functional" => "keras.src.models.functional",
        _ => "keras.layers",
    };
    json!({ "module": module, "class_name": layer.class_name(), "config": layer.config(), "registered_name": null })
}

impl Model {
    /// Keras's `model.to_json()` for this model, with `compile_config` once compiled.
    pub fn to_json(&self) -> Value {
        let mut model = if self.sequential { self.sequential_json() } else { self.functional_json() };
        if let Some(c) = &self.compiled {
            model["compile_config"] = c.config();
        }
        model
    }

    fn sequential_json(&self) -> Value {
        let mut layers = Vec::new();
        // A model that reads text through a TextVectorization takes strings in Keras (one per sample).
        let text = self.text_layer().is_some_and(|l| l.lock().text_vectorization().and_then(|v| v.text_input_shape()).as_deref() == self.input_shape());
        match (self.input_shape(), text) {
            (Some(_), true) => layers.push(input_layer("input_layer", &[1], "string")),
            (Some(shape), false) => layers.push(input_layer("input_layer", shape, "float32")),
            (None, _) => {}
        }
        layers.extend(self.layers.iter().map(layer_entry));
        json!({
            "module": "keras", "class_name": "Sequential", "registered_name": null,
            "config": { "name": self.name(), "trainable": self.base.trainable, "dtype": "float32", "layers": layers },
        })
    }

    fn functional_json(&self) -> Value {
        let g = self.graph.as_ref().expect("a functional model is built");
        let history = |t: &SymbolicTensor| -> Value {
            let (name, node, index) = g.reference(t);
            json!([name, node, index])
        };
        let tensor = |t: &SymbolicTensor| {
            let shape = g.shape_of(t).map(batch_shape).unwrap_or(Value::Null);
            json!({ "class_name": "__keras_tensor__", "config": { "shape": shape, "dtype": "float32", "keras_history": history(t) } })
        };
        let mut layers: Vec<Value> = g
            .input_names
            .iter()
            .zip(self.input_shapes())
            .zip(&g.input_dtypes)
            .map(|((n, s), dtype)| {
                let mut entry = input_layer(n, &s, dtype.name());
                entry["name"] = json!(n);
                entry["inbound_nodes"] = json!([]);
                entry
            })
            .collect();
        for layer in &self.layers {
            let nodes: Vec<Value> = g
                .calls
                .iter()
                .filter(|c| c.layer.same(layer))
                .map(|c| {
                    let (args, kwargs) = layer.lock().split_call(c.inputs.iter().map(tensor).collect());
                    let args = if args.len() == 1 || !kwargs.is_empty() { args } else { vec![Value::Array(args)] };
                    json!({ "args": args, "kwargs": kwargs })
                })
                .collect();
            let mut entry = layer_entry(layer);
            entry["name"] = json!(layer.name());
            entry["inbound_nodes"] = Value::Array(nodes);
            // Keras builds a layer (a nested model's variables included) from its build_config.
            if let Some(call) = g.calls.iter().find(|c| c.layer.same(layer)) {
                let shapes: Vec<Value> = call.inputs.iter().map(|t| g.shape_of(t).map(batch_shape).unwrap_or(Value::Null)).collect();
                entry["build_config"] = layer.lock().keras_build_config(shapes);
            }
            layers.push(entry);
        }
        let ends = |ts: &[SymbolicTensor]| {
            let list: Vec<Value> = ts.iter().map(history).collect();
            if list.len() == 1 { list[0].clone() } else { Value::Array(list) }
        };
        json!({
            "module": "keras.src.models.functional", "class_name": "Functional", "registered_name": "Functional",
            "config": { "name": self.name(), "trainable": self.base.trainable, "layers": layers, "input_layers": ends(&g.inputs), "output_layers": ends(&g.outputs) },
        })
    }

    /// A model from Keras's JSON (`model.to_json()` or its `config`) of a
    /// `Sequential` or `Functional` model, compiled when the JSON has a
    /// `compile_config`. Layers Strata lacks are named in the error.
    pub fn from_json(json: &Value, seed: u64) -> Result<Model> {
        let class = json.get("class_name").and_then(|c| c.as_str()).unwrap_or("Sequential");
        match class {
            "Sequential" => Ok(Sequential::from_json(json, seed)?.into_model()),
            "Functional" | "Model" => {
                let mut model = functional_from_json(json, seed)?;
                if let Some(cc) = compile_config(json) {
                    model.compile_with(compile_from_config(cc)?)?;
                }
                Ok(model)
            }
            other => Err(bad(format!("model class '{other}' is not supported (supported: Sequential, Functional)"))),
        }
    }

    /// [`Model::from_json`] from the text of a `model.to_json()` file.
    pub fn from_json_str(text: &str, seed: u64) -> Result<Model> {
        let json: Value = serde_json::from_str(text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        Model::from_json(&json, seed)
    }
}

impl Sequential {
    /// A Sequential model from Keras's JSON, compiled when it has a `compile_config`.
    pub fn from_json(json: &Value, seed: u64) -> Result<Sequential> {
        if let Some(class) = json.get("class_name").and_then(|c| c.as_str()) {
            if class != "Sequential" {
                return Err(bad(format!("expected a Sequential model, got '{class}' (Model::from_json reads every kind)")));
            }
        }
        let config = json.get("config").unwrap_or(json);
        let layers = config.get("layers").and_then(|l| l.as_array()).ok_or_else(|| bad("missing the 'layers' list"))?;
        let mut model = Sequential::with_seed(seed);
        if let Some(name) = config.get("name").and_then(|n| n.as_str()) {
            model.set_name(name);
        }
        let (mut pending_shape, mut text_input) = (None, false);
        for (i, entry) in layers.iter().enumerate() {
            let class = entry.get("class_name").and_then(|c| c.as_str()).ok_or_else(|| bad(format!("layer {i} has no 'class_name'")))?;
            let cfg = entry.get("config").unwrap_or(&Value::Null);
            if class == "InputLayer" {
                pending_shape = keras_config::declared_input_shape("input_layer", cfg)?;
                text_input = cfg.get("dtype").and_then(|d| d.as_str()) == Some("string");
                continue;
            }
            let mut layer = keras_config::layer_from_config(class, cfg)?;
            if std::mem::take(&mut text_input) {
                pending_shape = Some(text_input_shape(layer.as_ref())?);
            }
            if let Some(shape) = pending_shape.take() {
                layer.base_mut().input_shape = Some(shape);
            }
            model.push(layer)?;
        }
        let declared = |m: &Sequential| m.layers().first().is_some_and(|l| l.declared_input_shape().is_some());
        if let Some(shape) = json.pointer("/build_config/input_shape").and_then(|s| s.as_array()) {
            let dims: Option<Vec<usize>> = shape.iter().skip(1).map(|d| d.as_u64().map(|n| n as usize)).collect();
            if let (Some(dims), false) = (dims, declared(&model)) {
                if let Some(first) = model.layers().first() {
                    first.lock().base_mut().input_shape = Some(dims);
                }
            }
        }
        if declared(&model) {
            model.build_from_declared()?;
        }
        if let Some(cc) = compile_config(json) {
            model.compile_with(compile_from_config(cc)?)?;
        }
        Ok(model)
    }

    /// [`Sequential::from_json`] from the text of a `model.to_json()` file.
    pub fn from_json_str(text: &str, seed: u64) -> Result<Sequential> {
        let json: Value = serde_json::from_str(text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        Sequential::from_json(&json, seed)
    }
}

/// The `compile_config` of a model's JSON, if it has one (Keras writes `{}` for none).
fn compile_config(json: &Value) -> Option<&Value> {
    json.get("compile_config").filter(|c| !c.is_null() && c.as_object().is_none_or(|o| !o.is_empty()))
}

/// A Keras tensor reference: the layer's name, which call of it, which output.
type Reference = (String, usize, usize);

/// `[name, call, output]` of a Keras tensor reference.
fn history(v: &Value) -> Result<Reference> {
    let a = v.as_array().filter(|a| a.len() == 3).ok_or_else(|| bad(format!("expected [layer, node, tensor], got {v}")))?;
    let name = a[0].as_str().ok_or_else(|| bad(format!("expected a layer name in {v}")))?;
    let n = |x: &Value| x.as_u64().map(|n| n as usize).ok_or_else(|| bad(format!("expected indices in {v}")));
    Ok((name.to_string(), n(&a[1])?, n(&a[2])?))
}

/// `input_layers` / `output_layers`: one reference, or a list of them.
fn references(v: &Value) -> Result<Vec<Reference>> {
    match v.as_array() {
        Some(a) if a.first().is_some_and(|x| x.is_string()) => Ok(vec![history(v)?]),
        Some(a) => a.iter().map(history).collect(),
        None => Err(bad(format!("expected layer references, got {v}"))),
    }
}

/// The Keras tensors that an inbound node's arguments (tensors, or lists of them) refer to, in order.
fn tensor_references<'a>(values: impl IntoIterator<Item = &'a Value>) -> Result<Vec<Reference>> {
    let mut refs = Vec::new();
    let mut visit = |v: &Value| -> Result<()> {
        let h = v.pointer("/config/keras_history").ok_or_else(|| bad(format!("an inbound node's argument is not a Keras tensor: {v}")))?;
        refs.push(history(h)?);
        Ok(())
    };
    for a in values {
        match a.as_array() {
            Some(list) => list.iter().try_for_each(&mut visit)?,
            None => visit(a)?,
        }
    }
    Ok(refs)
}

/// An inbound node's positional arguments.
fn positional(node: &Value) -> Result<&Vec<Value>> {
    node.get("args").and_then(|a| a.as_array()).ok_or_else(|| bad(format!("inbound node without 'args': {node}")))
}

/// The tensors one call of `layer` reads: its positional arguments, then the
/// tensors among its keyword arguments that the layer takes (in its order).
fn node_inputs(node: &Value, layer: &LayerRef, mask_ops: &HashSet<String>) -> Result<Vec<Reference>> {
    let mut refs = tensor_references(positional(node)?)?;
    if let Some(op) = refs.iter().find(|(name, ..)| mask_ops.contains(name)) {
        return Err(bad(format!("layer '{}' reads the output of the Keras op '{}', which Strata reads only as a mask", layer.name(), op.0)));
    }
    if let Some(kwargs) = node.get("kwargs").filter(|k| k.as_object().is_some_and(|o| !o.is_empty())) {
        let mut kwargs = kwargs.clone();
        // Keras writes the masks it carried as a `mask=` argument computed by op nodes;
        // Strata carries the same masks itself, so a mask made by those ops is left out.
        if let Some(mask) = kwargs.as_object_mut().and_then(|k| k.remove("mask")).filter(|m| !m.is_null()) {
            if let Some(other) = tensor_references([&mask])?.into_iter().find(|(name, ..)| !mask_ops.contains(name)) {
                return Err(bad(format!("layer '{}' is given the mask '{}' (mask=); Strata computes masks from Embedding(mask_zero) and Masking, and takes no other yet", layer.name(), other.0)));
            }
        }
        let names = layer.lock().call_kwargs(&kwargs)?;
        refs.extend(tensor_references(names.iter().map(|name| &kwargs[name.as_str()]))?);
    }
    Ok(refs)
}

/// The names of the Keras op nodes (`keras.src.ops`: `NotEqual`, `Any`,
/// `LogicalOr`, ...) in a functional model's layers: Keras 3 writes the
/// computation of the masks it carries as such nodes.
fn mask_op_names(entries: &[Value]) -> HashSet<String> {
    let is_op = |e: &&Value| e.get("module").and_then(Value::as_str).is_some_and(|m| m.starts_with("keras.src.ops"));
    entries.iter().filter(is_op).filter_map(|e| e.get("name").or_else(|| e.pointer("/config/name")).and_then(Value::as_str).map(String::from)).collect()
}

/// What a model takes in place of Keras's string input into `layer`, a
/// `TextVectorization`: the tensors it makes from text.
fn text_input_shape(layer: &dyn Layer) -> Result<Vec<usize>> {
    let v = layer.text_vectorization().ok_or_else(|| bad(format!("a string input goes into layer '{}' ({}); Strata takes text only into a TextVectorization", layer.name(), layer.class_name())))?;
    v.text_input_shape().ok_or_else(|| bad(format!("TextVectorization '{}' has no output_sequence_length, so its token ids have no fixed length for a model input", layer.name())))
}

/// The shape and dtype of a functional model's string input `name`: those
/// of what the `TextVectorization` that reads it makes (int32 ids, or float32 vectors).
fn string_input(name: &str, entries: &[Value]) -> Result<(Vec<usize>, DType)> {
    let reads_it = |e: &&Value| {
        let nodes = e.get("inbound_nodes").and_then(Value::as_array).into_iter().flatten();
        nodes.filter_map(|n| positional(n).and_then(tensor_references).ok()).flatten().any(|(layer, _, _)| layer == name)
    };
    let entry = entries.iter().find(reads_it).ok_or_else(|| bad(format!("no layer reads the string input '{name}'")))?;
    let class = entry.get("class_name").and_then(|c| c.as_str()).unwrap_or_default();
    let layer = keras_config::layer_from_config(class, entry.get("config").unwrap_or(&Value::Null))?;
    let shape = text_input_shape(layer.as_ref())?;
    let int = layer.text_vectorization().is_some_and(|v| v.own_config()["output_mode"] == "int");
    Ok((shape, if int { DType::I32 } else { DType::F32 }))
}

fn functional_from_json(json: &Value, seed: u64) -> Result<Model> {
    let config = json.get("config").unwrap_or(json);
    let entries = config.get("layers").and_then(|l| l.as_array()).ok_or_else(|| bad("missing the 'layers' list"))?;
    let mut inputs: HashMap<String, SymbolicTensor> = HashMap::new();
    let mut layers: Vec<(String, LayerRef, Vec<Vec<Reference>>)> = Vec::new();
    let mask_ops = mask_op_names(entries);
    for (i, entry) in entries.iter().enumerate() {
        let class = entry.get("class_name").and_then(|c| c.as_str()).ok_or_else(|| bad(format!("layer {i} has no 'class_name'")))?;
        let cfg = entry.get("config").unwrap_or(&Value::Null);
        let name = entry.get("name").or_else(|| cfg.get("name")).and_then(|n| n.as_str()).ok_or_else(|| bad(format!("layer {i} has no name")))?.to_string();
        if inputs.contains_key(&name) || layers.iter().any(|(n, ..)| *n == name) {
            return Err(bad(format!("two layers are named '{name}'")));
        }
        if mask_ops.contains(&name) {
            continue;
        }
        if class == "InputLayer" {
            let shape = keras_config::declared_input_shape(&name, cfg)?.ok_or_else(|| bad(format!("input '{name}' has no batch_shape")))?;
            let (shape, dtype) = match cfg.get("dtype") {
                Some(Value::String(d)) if d == "string" => string_input(&name, entries)?,
                Some(Value::String(d)) if d == "bool" => (shape, DType::I32), // masks: 0 and 1
                Some(Value::String(d)) => (shape, DType::parse(d).ok_or_else(|| bad(format!("input '{name}' has dtype '{d}'; Strata's inputs are float32, int32, int64 or strings into a TextVectorization")))?),
                _ => (shape, DType::F32),
            };
            inputs.insert(name.clone(), Input::typed(shape, &name, dtype));
            continue;
        }
        let layer = match class {
            // A nested model draws from a stream of its own, not the outer model's first ones.
            "Sequential" | "Functional" => {
                let nested = Model::from_json(entry, super::plan::layer_rng(seed, 1 << 20 | i).next_u64()).map_err(|e| e.in_layer(&name))?.into_layer_ref();
                nested.set_trainable(cfg.get("trainable").and_then(|t| t.as_bool()).unwrap_or(true));
                nested
            }
            _ => LayerRef::from_box(keras_config::layer_from_config(class, cfg)?),
        };
        let nodes = entry.get("inbound_nodes").and_then(|n| n.as_array()).ok_or_else(|| bad(format!("layer '{name}' has no 'inbound_nodes'")))?;
        let calls = nodes.iter().map(|node| node_inputs(node, &layer, &mask_ops)).collect::<Result<Vec<_>>>()?;
        layers.push((name, layer, calls));
    }
    // Calls are made once their inputs exist (Keras's node-by-node order).
    let mut made: HashMap<(String, usize), Vec<SymbolicTensor>> = inputs.iter().map(|(n, t)| ((n.clone(), 0), vec![t.clone()])).collect();
    let mut next_node: Vec<usize> = vec![0; layers.len()];
    let lookup = |made: &HashMap<(String, usize), Vec<SymbolicTensor>>, (name, node, index): &Reference| -> Option<SymbolicTensor> {
        made.get(&(name.clone(), *node)).and_then(|outs| outs.get(*index)).cloned()
    };
    loop {
        let mut progress = false;
        for (k, (name, layer, nodes)) in layers.iter().enumerate() {
            while let Some(refs) = nodes.get(next_node[k]) {
                let Some(args) = refs.iter().map(|r| lookup(&made, r)).collect::<Option<Vec<_>>>() else { break };
                made.insert((name.clone(), next_node[k]), layer.apply_many(args)?);
                next_node[k] += 1;
                progress = true;
            }
        }
        if !progress {
            break;
        }
    }
    if let Some((k, (name, _, nodes))) = layers.iter().enumerate().find(|(k, (_, _, nodes))| next_node[*k] < nodes.len()) {
        let missing: Vec<String> = nodes[next_node[k]].iter().filter(|r| lookup(&made, r).is_none()).map(|(n, c, i)| format!("{n}[{c}][{i}]")).collect();
        return Err(bad(format!("layer '{name}' reads {} which no layer makes (an unknown layer, or a cycle)", missing.join(", "))));
    }
    let find = |refs: Vec<Reference>, what: &str| {
        refs.iter().map(|r| lookup(&made, r).ok_or_else(|| bad(format!("{what} '{}[{}][{}]' is not made by any layer", r.0, r.1, r.2)))).collect::<Result<Vec<_>>>()
    };
    let model_inputs = find(references(config.get("input_layers").ok_or_else(|| bad("missing 'input_layers'"))?)?, "input")?;
    let model_outputs = find(references(config.get("output_layers").ok_or_else(|| bad("missing 'output_layers'"))?)?, "output")?;
    let mut model = Model::with_seed(&model_inputs, &model_outputs, seed)?;
    if let Some(name) = config.get("name").and_then(|n| n.as_str()) {
        model.set_name(name);
    }
    Ok(model)
}

/// `compile_config`'s optimizer, losses (one, a list, or by output name),
/// loss weights and metrics.
pub fn compile_from_config(cc: &Value) -> Result<Compile> {
    let optimizer = optimizers::from_config(keras_config::field("compile_config", cc, "optimizer")?)?;
    let mut compile = Compile::new(optimizer);
    match keras_config::field("compile_config", cc, "loss")? {
        Value::Object(by_name) if !by_name.contains_key("class_name") => {
            for (name, l) in by_name {
                compile = compile.output_loss(name, losses::from_config(l)?);
            }
        }
        Value::Array(list) => compile = compile.losses(list.iter().map(losses::from_config).collect::<Result<Vec<_>>>()?),
        one => compile = compile.loss(losses::from_config(one)?),
    }
    if let Some(Value::Object(weights)) = cc.get("loss_weights") {
        for (name, w) in weights {
            compile = compile.loss_weight(name, w.as_f64().ok_or_else(|| bad(format!("loss weight of '{name}' is not a number: {w}")))? as f32);
        }
    }
    let entries = |v: &Value| -> Vec<Value> { v.as_array().cloned().unwrap_or_default() };
    match cc.get("metrics") {
        Some(Value::Object(by_name)) => {
            for (name, m) in by_name {
                compile = compile.metric_configs(Some(name), &entries(m));
            }
        }
        Some(m) => compile = compile.metric_configs(None, &entries(m)),
        None => {}
    }
    Ok(compile)
}
