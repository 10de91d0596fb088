#![no_main]
//! `cargo +nightly fuzz run train_config_toml`: the body is `nabla_fuzz::train_config_toml`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    nabla_fuzz::train_config_toml(data);
});
