//! The user's own classes by name (Keras's `custom_objects` and
//! `register_keras_serializable`): layers, losses, metrics, activations,
//! initializers, regularizers, constraints and learning-rate schedules a
//! saved model names are found here when it loads.

use std::sync::{Arc, RwLock};

/// Readers (or functions) of the user's own classes, by name; a later
/// registration of a name replaces an earlier one. Names live as long as the
/// program (an enum value of a registered activation holds its name).
pub(crate) struct Registry<F: ?Sized>(RwLock<Vec<(&'static str, Arc<F>)>>);

impl<F: ?Sized> Registry<F> {
    pub(crate) const fn new() -> Self {
        Registry(RwLock::new(Vec::new()))
    }
    /// Registers `reader` under `name`; returns the name, kept for the program's life.
    pub(crate) fn register(&self, name: &str, reader: Arc<F>) -> &'static str {
        let mut entries = self.0.write().unwrap_or_else(|e| e.into_inner());
        let kept = match entries.iter().position(|(n, _)| *n == name) {
            Some(i) => entries.remove(i).0,
            None => Box::leak(name.to_string().into_boxed_str()),
        };
        entries.push((kept, reader));
        kept
    }
    /// The reader registered under `name`, with the kept name.
    pub(crate) fn get(&self, name: &str) -> Option<(&'static str, Arc<F>)> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).iter().find(|(n, _)| *n == name).map(|(n, f)| (*n, f.clone()))
    }
    /// The registered names, in registration order.
    pub(crate) fn names(&self) -> Vec<String> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).iter().map(|(n, _)| n.to_string()).collect()
    }
}
