//! `cfg(pgkv_citus)` when `PGKV_CITUS` is set (`scripts/with-citus` sets
//! it): tests/citus then compiles the store suite against the cluster;
//! without it, that binary holds only a test saying it did not run.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(pgkv_citus)");
    println!("cargo::rerun-if-env-changed=PGKV_CITUS");
    println!("cargo::rerun-if-changed=build.rs");
    if std::env::var_os("PGKV_CITUS").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=pgkv_citus");
    }
}
