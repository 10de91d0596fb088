#![no_main]
//! `cargo +nightly fuzz run checkpoint`: the body is `nabla_fuzz::checkpoint`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    nabla_fuzz::checkpoint(data);
});
