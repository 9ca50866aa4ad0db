//! Models: `Model` (any graph of layers, Keras's functional API) and
//! `Sequential` (a stack), their training loop (`fit`, `evaluate`,
//! `predict`, the training step), callbacks and the printed summary.

mod callbacks;
mod checkpoint;
mod compile;
mod evaluate;
mod fit;
pub(crate) mod functional;
mod graph;
mod keras_json;
mod plan;
mod progress;
mod sequential;
mod serialize;
mod summary;
mod text;
mod train_step;
mod training_callbacks;

pub use callbacks::{Callback, Control, History, Logs, TerminateOnNaN, TrainInfo, TrainingModel};
pub use checkpoint::ModelCheckpoint;
pub use compile::{Compile, IntoLoss, IntoOptimizer};
pub use fit::{Feed, FitOptions};
pub use functional::Model;
pub use graph::{Apply, Input, Inputs, SymbolicTensor};
pub use keras_json::compile_from_config;
pub use progress::ProgressBar;
pub use sequential::Sequential;
pub use serialize::FORMAT_VERSION;
pub use train_step::{GradientStage, LossParts, StepLogs, TrainStep};
pub use training_callbacks::{CSVLogger, EarlyStopping, LearningRateScheduler, Mode, ReduceLROnPlateau};
