#![no_main]
//! `cargo +nightly fuzz run quantised`: the body is `nabla_fuzz::quantised`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    nabla_fuzz::quantised(data);
});
