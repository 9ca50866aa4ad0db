//! What the CLI's test files share.

use std::path::PathBuf;

/// An emptied folder `strata-{name}` under Cargo's `target/tmp`: one copy at
/// most, and nothing an earlier run left (a stale checkpoint) is read.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("strata-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
