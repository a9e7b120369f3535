//! `#[derive(KvRecord)]` UI tests: each `tests/ui/<case>.rs` must fail to
//! compile with exactly the diagnostics in `<case>.stderr`; each
//! `tests/ui/pass/*.rs` must compile and run. Regenerate the expected output
//! with `TRYBUILD=overwrite cargo test --test compiletest`, then read it.
//!
//! rustc's wording changes between releases, so the `.stderr` files are
//! checked only with the compiler they were written by (`tests/ui/RUSTC`);
//! with any other, this says loudly that the diagnostics were not checked
//! (the `pass` cases still run). trybuild builds the cases in a project of
//! its own under `target/tests/trybuild`: a cold run compiles pgkv's
//! dependencies again, which takes minutes on two cores.

use std::io::Write as _;
use std::process::Command;

/// Written past the test harness's output capture, so it is seen.
fn say(text: &str) {
    let _ = writeln!(std::io::stderr(), "compiletest: {text}");
}

fn rustc_version() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    Command::new(rustc)
        .arg("--version")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_default()
}

#[test]
fn ui() {
    let pinned = include_str!("ui/RUSTC").trim();
    let running = rustc_version();
    let overwrite = std::env::var_os("TRYBUILD").is_some_and(|v| v == "overwrite");
    let t = trybuild::TestCases::new();
    if overwrite && running != pinned {
        std::fs::write("tests/ui/RUSTC", format!("{running}\n")).expect("write tests/ui/RUSTC");
    }
    if running == pinned || overwrite {
        say("checking the derive's diagnostics (a cold run builds dependencies first: minutes)");
        t.compile_fail("tests/ui/*.rs");
    } else {
        say(&format!(
            "NOT RUN: the derive's diagnostics (tests/ui/*.stderr) were written by {pinned:?}, \
             this is {running:?}; only the passing cases are checked. \
             TRYBUILD=overwrite cargo test --test compiletest rewrites them for this compiler."
        ));
    }
    t.pass("tests/ui/pass/*.rs");
}
