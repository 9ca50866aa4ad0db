//! Models: `Sequential`, its training loop (`fit`, `evaluate`, `predict`),
//! callbacks and the printed summary.

mod callbacks;
mod checkpoint;
mod evaluate;
mod fit;
mod progress;
mod sequential;
mod serialize;
mod summary;
mod training_callbacks;

pub use callbacks::{Callback, Control, History, Logs, TerminateOnNaN, TrainInfo};
pub use checkpoint::ModelCheckpoint;
pub use fit::FitOptions;
pub use progress::ProgressBar;
pub use sequential::Sequential;
pub use serialize::FORMAT_VERSION;
pub use training_callbacks::{CSVLogger, EarlyStopping, LearningRateScheduler, Mode, ReduceLROnPlateau};
