#![no_main]
//! `cargo +nightly fuzz run runs_import`: the body is `nabla_fuzz::runs_import`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    nabla_fuzz::runs_import(data);
});
