//! A live training dashboard served from the training process: loss and
//! metrics per batch and per epoch, learning rate, speed, memory, time
//! left, predictions on fixed images and a stop button, on a page that
//! updates itself (server-sent events). `GET /api/runs` gives the runs and
//! their logs as JSON; `POST /publish/epoch/end/` takes Keras's
//! `RemoteMonitor` posts, so a Keras run shows beside a Strata one.
//!
//! Training never waits for the page: it writes to the [`Board`] under a
//! short lock, and each page is fed by its own thread that drops the page
//! when it stops reading.

mod board;
mod callback;
mod http;
pub mod logdir;
mod workers;

pub use board::Board;
pub use callback::Dashboard;
pub use http::{Server, MAX_BODY, MAX_CONNECTIONS};

/// Lowers the calling thread's scheduling priority to the least (nice 19 on
/// Linux; elsewhere nothing), so that a dashboard thread waits for a free
/// core instead of taking one from training.
pub(crate) fn yield_to_training() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority take plain integers and touch no memory.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 19);
    }
}
