//! Records the optimisation level this crate is compiled at, so that an
//! unoptimised build (about 80x slower) can say so when it runs.

fn main() {
    println!("cargo:rustc-env=STRATA_OPT_LEVEL={}", std::env::var("OPT_LEVEL").unwrap_or_default());
    println!("cargo:rerun-if-changed=build.rs");
}
