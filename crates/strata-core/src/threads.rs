//! One thread pool for the whole process (rayon's global pool). Its size is
//! the machine's core count unless set by [`set_num_threads`] or the
//! `STRATA_THREADS` environment variable. Idle workers sleep rather than spin,
//! so Strata stays fast on a machine that is busy with other work.

use crate::error::{Error, Result};

/// Sizes the pool. Must be called before the first op runs; later calls
/// that ask for the size the pool already has succeed, others fail.
pub fn set_num_threads(n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::argument("threads", "the thread count must be at least 1, got 0"));
    }
    match rayon::ThreadPoolBuilder::new().num_threads(n).build_global() {
        Ok(()) => Ok(()),
        Err(_) if rayon::current_num_threads() == n => Ok(()),
        Err(_) => Err(Error::argument(
            "threads",
            format!("the thread pool already runs {} threads and cannot be resized to {n}", rayon::current_num_threads()),
        )),
    }
}

/// Sizes the pool from `STRATA_THREADS` when it is set.
pub fn init_from_env() -> Result<()> {
    match std::env::var("STRATA_THREADS") {
        Ok(v) => {
            let n = v.trim().parse::<usize>().map_err(|_| {
                Error::argument("STRATA_THREADS", format!("expected a positive integer, got {v:?}"))
            })?;
            set_num_threads(n)
        }
        Err(_) => Ok(()),
    }
}

/// The number of threads kernels may use.
pub fn num_threads() -> usize {
    rayon::current_num_threads()
}
