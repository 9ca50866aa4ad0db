//! One error type for the whole of Strata. Every message names what was at
//! fault: the op or layer, the shape, the file or the argument.

use std::fmt;
use std::path::PathBuf;

/// Result alias used across Strata.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong in Strata, with enough context to act on.
#[derive(Debug)]
pub enum Error {
    /// An op received tensors whose shapes it cannot combine.
    Shape {
        /// The op (or argument) that rejected the shapes, e.g. `matmul`.
        op: String,
        /// What was wrong, with the shapes.
        msg: String,
    },
    /// A layer rejected its input or configuration.
    Layer {
        /// The layer's name, e.g. `dense_1`.
        layer: String,
        /// What was wrong.
        msg: String,
    },
    /// An argument (function parameter or command-line flag) is impossible.
    Argument {
        /// The argument's name, e.g. `learning_rate`.
        name: String,
        /// Why its value is impossible.
        msg: String,
    },
    /// A data file is missing, truncated or malformed.
    Data {
        /// The file (or folder) at fault.
        path: PathBuf,
        /// What was wrong with it.
        msg: String,
    },
    /// An operating-system error while reading or writing a file.
    Io {
        /// The file being read or written.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A value became NaN or infinite.
    NotFinite {
        /// What became non-finite, e.g. the loss at some step.
        what: String,
    },
    /// A model was used in a way its state does not allow (e.g. fit before compile).
    State(String),
}

impl Error {
    /// An [`Error::Shape`] for `op`.
    pub fn shape(op: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Shape { op: op.into(), msg: msg.into() }
    }
    /// An [`Error::Layer`] naming `layer`.
    pub fn layer(layer: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Layer { layer: layer.into(), msg: msg.into() }
    }
    /// An [`Error::Argument`] naming argument `name`.
    pub fn argument(name: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Argument { name: name.into(), msg: msg.into() }
    }
    /// An [`Error::Data`] about the file at `path`.
    pub fn data(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Data { path: path.into(), msg: msg.into() }
    }
    /// An [`Error::Io`] from an operation on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
    /// Wraps an error raised inside a layer so the message names that layer.
    pub fn in_layer(self, layer: &str) -> Self {
        match self {
            Error::Layer { .. } => self,
            other => Error::layer(layer, other.to_string()),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Shape { op, msg } => write!(f, "{op}: {msg}"),
            Error::Layer { layer, msg } => write!(f, "layer '{layer}': {msg}"),
            Error::Argument { name, msg } => write!(f, "invalid {name}: {msg}"),
            Error::Data { path, msg } => write!(f, "{}: {msg}", path.display()),
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::NotFinite { what } => write!(f, "{what} is not finite (NaN or infinity)"),
            Error::State(msg) => write!(f, "{msg}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Formats a shape the way Keras prints it: `(32, 28, 28, 1)`.
pub fn fmt_shape(shape: &[usize]) -> String {
    let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    if parts.len() == 1 {
        format!("({},)", parts[0])
    } else {
        format!("({})", parts.join(", "))
    }
}
