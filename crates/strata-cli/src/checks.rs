//! Flags checked before any work starts, so that a bad path or a meaningless
//! number is reported at once, not after the training it would have saved.

use std::path::Path;

use strata::{Error, Result};

/// Fails unless a file can be written at `path` (given with `flag`): its
/// folder exists, the path is no folder, and a file can be created there
/// (tried with a temporary name, then removed).
pub fn writable(flag: &str, path: &Path) -> Result<()> {
    if path.is_dir() {
        return Err(Error::argument(flag, format!("{} is a folder: give a file name inside it", path.display())));
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(Error::argument(flag, format!("the folder {} does not exist (create it first)", parent.display())));
    }
    let probe = parent.join(format!(".strata-write-check-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|e| Error::argument(flag, format!("cannot write in {}: {e}", parent.display())))?;
    std::fs::remove_file(&probe).map_err(|e| Error::io(&probe, e))?;
    Ok(())
}

/// Fails for a checkpoint path in Keras's `.keras` format, which keeps no
/// optimizer state or progress to resume from.
pub fn checkpoint(flag: &str, path: &Path) -> Result<()> {
    if path.extension().is_some_and(|e| e == "keras") {
        return Err(Error::argument(flag, format!("{}: a .keras file keeps no optimizer state or progress to resume from; checkpoint to a .safetensors file", path.display())));
    }
    writable(flag, path)
}

/// Fails unless `rate` (given with `flag`) is a positive, finite number.
pub fn learning_rate(flag: &str, rate: Option<f32>) -> Result<()> {
    match rate {
        Some(r) if !(r.is_finite() && r > 0.0) => Err(Error::argument(flag, format!("must be a positive number, got {r}"))),
        _ => Ok(()),
    }
}

/// Fails unless training from `initial_epoch` to `epochs` runs at least one
/// epoch (`--epochs` is the last epoch to reach, as Keras's `epochs`).
pub fn epochs(epochs: usize, initial_epoch: usize) -> Result<()> {
    if epochs == 0 {
        return Err(Error::argument("--epochs", "must be at least 1 (to convert a model without training it, use `strata convert`)"));
    }
    if initial_epoch >= epochs {
        return Err(Error::argument(
            "--epochs",
            format!("the checkpoint has trained {initial_epoch} epochs already and --epochs {epochs} is the last epoch to reach: give more than {initial_epoch}"),
        ));
    }
    Ok(())
}
