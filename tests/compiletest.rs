//! `#[derive(KvRecord)]` UI tests: each `tests/ui/<case>.rs` must fail to
//! compile with exactly the diagnostics in `<case>.stderr`; each
//! `tests/ui/pass/*.rs` must compile and run. Regenerate the expected output
//! with `TRYBUILD=overwrite cargo test --test compiletest`, then read it.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
