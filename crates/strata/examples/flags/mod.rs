//! Command-line flags for the examples that need no more than `--name value`
//! and `--switch` (the GAN examples parse theirs in `gan/`).

#![allow(dead_code)]

use strata::{Error, Result};

/// The value after `name`, or `default`.
pub fn flag(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned().unwrap_or_else(|| default.to_string())
}

/// The number after `name`, or `default`; an error names the flag.
pub fn number<T: std::str::FromStr>(name: &str, default: &str) -> Result<T> {
    let v = flag(name, default);
    v.parse().map_err(|_| Error::argument(name, format!("expected a number, got {v:?}")))
}

/// Whether `name` is given.
pub fn switch(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}
