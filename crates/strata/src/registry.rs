//! The user's own classes by name (Keras's `custom_objects` and
//! `register_keras_serializable`): layers, losses and metrics a saved model
//! names are found here when it loads.

use std::sync::{Arc, RwLock};

/// Readers of the user's own classes, by class name; a later registration of
/// a name replaces an earlier one.
pub(crate) struct Registry<F: ?Sized>(RwLock<Vec<(String, Arc<F>)>>);

impl<F: ?Sized> Registry<F> {
    pub(crate) const fn new() -> Self {
        Registry(RwLock::new(Vec::new()))
    }
    pub(crate) fn register(&self, name: &str, reader: Arc<F>) {
        let mut entries = self.0.write().unwrap_or_else(|e| e.into_inner());
        entries.retain(|(n, _)| n != name);
        entries.push((name.to_string(), reader));
    }
    /// The reader registered under `name`.
    pub(crate) fn get(&self, name: &str) -> Option<Arc<F>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).iter().find(|(n, _)| n == name).map(|(_, f)| f.clone())
    }
    /// The registered names, in registration order.
    pub(crate) fn names(&self) -> Vec<String> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).iter().map(|(n, _)| n.clone()).collect()
    }
}
