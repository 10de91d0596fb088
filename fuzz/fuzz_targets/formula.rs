#![no_main]
//! `cargo +nightly fuzz run formula`: the body is `nabla_fuzz::formula`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    nabla_fuzz::formula(data);
});
