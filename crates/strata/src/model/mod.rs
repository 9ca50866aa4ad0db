//! Models: `Sequential`, its training loop (`fit`, `evaluate`, `predict`),
//! callbacks and the printed summary.

mod callbacks;
mod fit;
mod progress;
mod sequential;
mod summary;

pub use callbacks::{Callback, Control, History, Logs, TrainInfo};
pub use fit::FitOptions;
pub use progress::ProgressBar;
pub use sequential::Sequential;
