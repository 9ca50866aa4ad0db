//! What `compile` stores: the optimizer, a loss per output (one for all, a
//! list, or by output name), loss weights and metrics per output, as Keras's
//! `compile(optimizer, loss, loss_weights, metrics)` takes them.

use std::sync::Arc;

use serde_json::{json, Map, Value};
use strata_core::{Error, Result};

use crate::losses::{self, Loss};
use crate::metrics::{self, Metric};
use crate::optimizers::{self, Optimizer};

/// Anything `compile` accepts as an optimizer: an optimizer or its Keras name.
pub trait IntoOptimizer {
    /// The optimizer; a name is looked up with Keras's defaults, and an unknown one is an error.
    fn into_optimizer(self) -> Result<Box<dyn Optimizer>>;
}
impl<T: Optimizer + 'static> IntoOptimizer for T {
    fn into_optimizer(self) -> Result<Box<dyn Optimizer>> {
        Ok(Box::new(self))
    }
}
impl IntoOptimizer for Box<dyn Optimizer> {
    fn into_optimizer(self) -> Result<Box<dyn Optimizer>> {
        Ok(self)
    }
}
impl IntoOptimizer for &str {
    fn into_optimizer(self) -> Result<Box<dyn Optimizer>> {
        optimizers::from_name(self)
    }
}

/// Anything `compile` accepts as a loss: a loss or its Keras name.
pub trait IntoLoss {
    /// The loss; a name is looked up with Keras's defaults, and an unknown one is an error.
    fn into_loss(self) -> Result<Box<dyn Loss>>;
}
impl<T: Loss + 'static> IntoLoss for T {
    fn into_loss(self) -> Result<Box<dyn Loss>> {
        Ok(Box::new(self))
    }
}
impl IntoLoss for Box<dyn Loss> {
    fn into_loss(self) -> Result<Box<dyn Loss>> {
        Ok(self)
    }
}
impl IntoLoss for &str {
    fn into_loss(self) -> Result<Box<dyn Loss>> {
        losses::from_name(self)
    }
}

/// A metric as `compile` was given it: a Keras name, or an object (built-in
/// with arguments, or the user's own), copied for each output it measures.
#[derive(Clone)]
enum MetricSpec {
    /// A name, or Keras's class and config of a metric with arguments (from a `compile_config`).
    Config(Value),
    /// An object, with its `compile_config` entry.
    Object { config: Value, make: Arc<dyn Fn() -> Box<dyn Metric> + Send + Sync> },
}

impl MetricSpec {
    fn object<M: Metric + Clone + Sync + 'static>(metric: M) -> MetricSpec {
        MetricSpec::Object { config: metric.config(), make: Arc::new(move || Box::new(metric.clone())) }
    }
    fn config(&self) -> &Value {
        match self {
            MetricSpec::Config(c) | MetricSpec::Object { config: c, .. } => c,
        }
    }
    fn make(&self) -> Result<Box<dyn Metric>> {
        match self {
            MetricSpec::Config(c) => metrics::from_config(c),
            MetricSpec::Object { make, .. } => Ok(make()),
        }
    }
}

fn names(list: &[MetricSpec]) -> Value {
    Value::Array(list.iter().map(|m| m.config().clone()).collect())
}

/// How losses were given: one for every output, or per output (by name or position).
enum Losses {
    One(Box<dyn Loss>),
    ByName(Vec<(String, Box<dyn Loss>)>),
    List(Vec<Box<dyn Loss>>),
}

/// Keras's `compile` arguments for a model with several outputs:
///
/// ```no_run
/// # use strata::model::Compile;
/// # fn f(model: &mut strata::model::Model) -> strata::Result<()> {
/// model.compile_with(Compile::new("adam").output_loss("out1", "mse").output_loss("out2", "categorical_crossentropy")
///     .loss_weight("out1", 0.5).output_metrics("out2", &["accuracy"]))?;
/// # Ok(()) }
/// ```
pub struct Compile {
    optimizer: Result<Box<dyn Optimizer>>,
    losses: Result<Losses>,
    loss_weights: Vec<(String, f32)>,
    metrics: Vec<MetricSpec>,
    output_metrics: Vec<(String, Vec<MetricSpec>)>,
}

impl Compile {
    /// The optimizer, by value or Keras name; losses and metrics follow.
    pub fn new(optimizer: impl IntoOptimizer) -> Compile {
        Compile { optimizer: optimizer.into_optimizer(), losses: Ok(Losses::List(Vec::new())), loss_weights: Vec::new(), metrics: Vec::new(), output_metrics: Vec::new() }
    }
    /// Replaces the optimizer.
    pub fn optimizer(mut self, optimizer: impl IntoOptimizer) -> Compile {
        self.optimizer = optimizer.into_optimizer();
        self
    }
    /// Whether metrics were asked for.
    pub fn has_metrics(&self) -> bool {
        !self.metrics.is_empty() || !self.output_metrics.is_empty()
    }
    /// One loss for every output.
    pub fn loss(mut self, loss: impl IntoLoss) -> Compile {
        self.losses = loss.into_loss().map(Losses::One);
        self
    }
    /// The loss of the output named `output` (outputs without one are not trained).
    pub fn output_loss(mut self, output: &str, loss: impl IntoLoss) -> Compile {
        self.losses = match (self.losses, loss.into_loss()) {
            (Ok(Losses::ByName(mut v)), Ok(l)) => {
                v.push((output.to_string(), l));
                Ok(Losses::ByName(v))
            }
            (Ok(Losses::List(v)), Ok(l)) if v.is_empty() => Ok(Losses::ByName(vec![(output.to_string(), l)])),
            (Ok(_), Ok(_)) => Err(Error::argument("loss", "give losses either by output name or all together, not both")),
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        self
    }
    /// One loss per output, in the order of the model's outputs.
    pub fn losses(mut self, losses: Vec<Box<dyn Loss>>) -> Compile {
        self.losses = Ok(Losses::List(losses));
        self
    }
    /// The weight of an output's loss in the total (default 1).
    pub fn loss_weight(mut self, output: &str, weight: f32) -> Compile {
        self.loss_weights.push((output.to_string(), weight));
        self
    }
    /// Metrics computed on every output, by Keras name.
    pub fn metrics(mut self, metrics: &[&str]) -> Compile {
        self.metrics.extend(metrics.iter().map(|m| MetricSpec::Config(Value::from(*m))));
        self
    }
    /// A metric object computed on every output: a built-in one with its
    /// arguments (`TopKAccuracy::new(3)`) or your own [`Metric`]. Each output
    /// gets a fresh copy; it is logged under its `name()`.
    pub fn metric<M: Metric + Clone + Sync + 'static>(mut self, metric: M) -> Compile {
        self.metrics.push(MetricSpec::object(metric));
        self
    }
    /// Metrics from `compile_config` entries: names, or Keras's class and config.
    pub(crate) fn metric_configs(mut self, output: Option<&str>, configs: &[Value]) -> Compile {
        let specs: Vec<MetricSpec> = configs.iter().cloned().map(MetricSpec::Config).collect();
        match output {
            Some(name) => self.output_metrics.push((name.to_string(), specs)),
            None => self.metrics.extend(specs),
        }
        self
    }
    /// Metrics of the output named `output`, by Keras name.
    pub fn output_metrics(mut self, output: &str, metrics: &[&str]) -> Compile {
        self.output_metrics.push((output.to_string(), metrics.iter().map(|m| MetricSpec::Config(Value::from(*m))).collect()));
        self
    }
    /// A metric object of the output named `output` (see [`Compile::metric`]).
    pub fn output_metric<M: Metric + Clone + Sync + 'static>(mut self, output: &str, metric: M) -> Compile {
        self.output_metrics.push((output.to_string(), vec![MetricSpec::object(metric)]));
        self
    }

    /// Resolves everything against the model's output names.
    pub(crate) fn resolve(self, outputs: &[String]) -> Result<Compiled> {
        let optimizer = self.optimizer?;
        let position = |what: &str, name: &str| {
            outputs.iter().position(|o| o == name).ok_or_else(|| Error::argument(what, format!("the model has no output named '{name}' (its outputs: {})", outputs.join(", "))))
        };
        let mut config = Map::new();
        let mut losses: Vec<Option<Box<dyn Loss>>> = (0..outputs.len()).map(|_| None).collect();
        let mut shared = None;
        match self.losses? {
            Losses::One(l) => {
                config.insert("loss".into(), l.serialize());
                shared = Some(l);
            }
            Losses::ByName(named) => {
                let mut by_name = Map::new();
                for (name, l) in named {
                    by_name.insert(name.clone(), l.serialize());
                    losses[position("loss", &name)?] = Some(l);
                }
                config.insert("loss".into(), Value::Object(by_name));
            }
            Losses::List(list) if list.is_empty() => return Err(Error::argument("loss", "compile needs a loss")),
            Losses::List(list) => {
                if list.len() != outputs.len() {
                    return Err(Error::argument("loss", format!("{} losses for {} outputs ({})", list.len(), outputs.len(), outputs.join(", "))));
                }
                config.insert("loss".into(), Value::Array(list.iter().map(|l| l.serialize()).collect()));
                losses = list.into_iter().map(Some).collect();
            }
        }
        let mut loss_weights = vec![1.0; outputs.len()];
        for (name, w) in &self.loss_weights {
            if !w.is_finite() || *w < 0.0 {
                return Err(Error::argument("loss_weights", format!("the weight of '{name}' must be a finite non-negative number, got {w}")));
            }
            loss_weights[position("loss_weights", name)?] = *w;
        }
        if !self.loss_weights.is_empty() {
            config.insert("loss_weights".into(), Value::Object(self.loss_weights.iter().map(|(n, w)| (n.clone(), json!(w))).collect()));
        }
        let mut specs: Vec<Vec<MetricSpec>> = vec![self.metrics.clone(); outputs.len()];
        for (name, m) in &self.output_metrics {
            specs[position("metrics", name)?].extend(m.iter().cloned());
        }
        let metrics = specs.iter().map(|list| list.iter().map(MetricSpec::make).collect::<Result<Vec<_>>>()).collect::<Result<Vec<_>>>()?;
        config.insert(
            "metrics".into(),
            if self.output_metrics.is_empty() {
                names(&self.metrics)
            } else {
                let mut by_output = Map::new();
                for (n, m) in &self.output_metrics {
                    let list = by_output.entry(n.clone()).or_insert_with(|| json!([]));
                    list.as_array_mut().expect("a list").extend(m.iter().map(|m| m.config().clone()));
                }
                Value::Object(by_output)
            },
        );
        Ok(Compiled { optimizer, shared, losses, loss_weights, metrics, config })
    }
}

/// What `compile` stores: how the model trains.
pub(crate) struct Compiled {
    pub optimizer: Box<dyn Optimizer>,
    /// One loss for every output (`compile(opt, "mse", ..)`), else `losses`.
    shared: Option<Box<dyn Loss>>,
    losses: Vec<Option<Box<dyn Loss>>>,
    pub loss_weights: Vec<f32>,
    /// Per output, its metrics.
    pub metrics: Vec<Vec<Box<dyn Metric>>>,
    /// `compile_config`'s loss, loss_weights and metrics entries, as given.
    config: Map<String, Value>,
}

impl Compiled {
    /// The loss of output `i`, if it has one.
    pub fn loss(&self, i: usize) -> Option<&dyn Loss> {
        self.shared.as_deref().or_else(|| self.losses.get(i).and_then(|l| l.as_deref()))
    }
    /// Keras's `compile_config` for this compilation.
    pub fn config(&self) -> Value {
        let mut c = self.config.clone();
        c.insert("optimizer".into(), json!({ "module": "keras.optimizers", "class_name": optimizer_class(self.optimizer.name()), "config": self.optimizer.config(), "registered_name": null }));
        Value::Object(c)
    }
}

/// Keras's class name of an optimizer identifier (`adam` -> `Adam`), as `compile_config` names it.
fn optimizer_class(name: &str) -> String {
    match name {
        "sgd" => "SGD".into(),
        "rmsprop" => "RMSprop".into(),
        "adamw" => "AdamW".into(),
        other => {
            let mut chars = other.chars();
            chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
        }
    }
}
