#![no_main]
//! `cargo +nightly fuzz run sweep_toml`: the body is `nabla_fuzz::sweep_toml`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    nabla_fuzz::sweep_toml(data);
});
