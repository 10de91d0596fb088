#![no_main]
//! `cargo +nightly fuzz run idx`: the body is `nabla_fuzz::idx`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    nabla_fuzz::idx(data);
});
