//! The ranks of an `mpirun` launch, on the `mpi` crate (rsmpi) and the
//! system's MPI library (OpenMPI from Debian: `libopenmpi-dev openmpi-bin`,
//! and `libclang-dev` for the bindings). Cargo feature `mpi`.
//!
//! ```text
//! cargo build --release -p strata-cli --features mpi
//! mpirun -np 2 target/release/strata train --epochs 3
//! ```

use std::sync::{Arc, Mutex};

use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, CommunicatorCollectives, Root};
use mpi::Threading;
use strata_core::{Error, Result};

use super::Collective;

/// The world communicator of this `mpirun` launch.
struct World {
    comm: SimpleCommunicator,
    rank: usize,
    size: usize,
    /// MPI is initialised for one thread at a time (`MPI_THREAD_SERIALIZED`).
    lock: Mutex<()>,
}

// SAFETY: the communicator is a handle MPI lets any thread use as long as
// calls do not overlap (MPI_THREAD_SERIALIZED, checked at init); every call
// takes `lock` first.
unsafe impl Send for World {}
unsafe impl Sync for World {}

static UNIVERSE: Mutex<Option<Universe>> = Mutex::new(None);

/// Whether this process was started by `mpirun` (OpenMPI's or a PMI launcher's variables).
pub fn launched() -> bool {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"].iter().any(|v| std::env::var_os(v).is_some())
}

/// When started by `mpirun`, joins its ranks and makes them the default
/// group every `fit` trains with; returns it. Without `mpirun`, nothing
/// (`None`): training runs in this process alone.
pub fn init() -> Result<Option<Arc<dyn Collective>>> {
    if !launched() {
        return Ok(None);
    }
    let (universe, threading) = mpi::initialize_with_threading(Threading::Serialized).ok_or_else(|| Error::State("MPI was initialised already".into()))?;
    if threading < Threading::Serialized {
        return Err(Error::State(format!("the MPI library offers {threading:?} threading; Strata needs Serialized")));
    }
    let comm = universe.world();
    let (rank, size) = (comm.rank() as usize, comm.size() as usize);
    *UNIVERSE.lock().unwrap_or_else(|e| e.into_inner()) = Some(universe);
    let world: Arc<dyn Collective> = Arc::new(World { comm, rank, size, lock: Mutex::new(()) });
    super::set_default(world.clone())?;
    Ok(Some(world))
}

/// Leaves the group (`MPI_Finalize`); call once at the end of a run started by `mpirun`.
pub fn finalize() {
    drop(UNIVERSE.lock().unwrap_or_else(|e| e.into_inner()).take());
}

/// Threads per rank that share this machine's cores among the ranks on it
/// (`OMPI_COMM_WORLD_LOCAL_SIZE`), when started by `mpirun`.
pub fn threads_per_rank() -> Option<usize> {
    let local: usize = std::env::var("OMPI_COMM_WORLD_LOCAL_SIZE").ok()?.parse().ok()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    Some((cores / local.max(1)).max(1))
}

impl World {
    fn serial<R>(&self, f: impl FnOnce(&SimpleCommunicator) -> R) -> R {
        let _one_at_a_time = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        f(&self.comm)
    }
}

impl Collective for World {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
    fn all_gather(&self, data: &[f32]) -> Result<Vec<f32>> {
        let mut out = vec![0.0f32; data.len() * self.size];
        self.serial(|c| c.all_gather_into(data, &mut out[..]));
        Ok(out)
    }
    fn all_gather_u64(&self, data: &[u64]) -> Result<Vec<u64>> {
        let mut out = vec![0u64; data.len() * self.size];
        self.serial(|c| c.all_gather_into(data, &mut out[..]));
        Ok(out)
    }
    fn all_to_all(&self, data: &[f32]) -> Result<Vec<f32>> {
        let mut out = vec![0.0f32; data.len()];
        self.serial(|c| c.all_to_all_into(data, &mut out[..]));
        Ok(out)
    }
    fn broadcast(&self, data: &mut [f32]) -> Result<()> {
        self.serial(|c| c.process_at_rank(0).broadcast_into(data));
        Ok(())
    }
    fn broadcast_u64(&self, data: &mut [u64]) -> Result<()> {
        self.serial(|c| c.process_at_rank(0).broadcast_into(data));
        Ok(())
    }
    fn abort(&self, code: i32) -> ! {
        self.comm.abort(code)
    }
}
