//! What the layer wrappers (`Bidirectional`, `TimeDistributed`) share: the
//! wrapped layer as Keras serialises it inside the wrapper's config, and
//! copies of a layer remade from its config.

use serde_json::{json, Value};
use strata_core::{Error, Result};

use crate::layers::registry::layer_from_config;
use crate::layers::{Layer, Weight};

/// `{"module", "class_name", "config", "registered_name"}` of a wrapped layer.
pub(crate) fn nested_config(layer: &dyn Layer) -> Value {
    json!({ "module": "keras.layers", "class_name": layer.class_name(), "config": layer.config(), "registered_name": null })
}

/// Reads the wrapped layer of a wrapper's config field `name`; `l` names the wrapper in errors.
pub(crate) fn nested_from_config(l: &str, config: &Value, name: &str) -> Result<Box<dyn Layer>> {
    let entry = config.get(name).filter(|v| v.is_object()).ok_or_else(|| Error::layer(l, format!("config has no '{name}' (the wrapped layer)")))?;
    let class = entry.get("class_name").and_then(Value::as_str).ok_or_else(|| Error::layer(l, format!("'{name}' has no class_name")))?;
    layer_from_config(class, entry.get("config").unwrap_or(&Value::Null)).map_err(|e| e.in_layer(l))
}

/// A new, unbuilt layer from `layer`'s config with `changes` applied
/// (a name, `go_backwards`): how Keras makes a wrapper's copies.
pub(crate) fn remade(layer: &dyn Layer, changes: &[(&str, Value)]) -> Result<Box<dyn Layer>> {
    let mut config = layer.config();
    for (k, v) in changes {
        config[*k] = v.clone();
    }
    layer_from_config(layer.class_name(), &config)
}

/// The wrapped layer's weights under its name (`forward_lstm/lstm_cell/kernel`), as Keras 3's variable paths put them.
pub(crate) fn weights_under(layer: &dyn Layer) -> Vec<Weight> {
    layer.weights().into_iter().map(|w| Weight { name: format!("{}/{}", layer.name(), w.name), ..w }).collect()
}
