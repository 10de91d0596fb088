#![no_main]
//! `cargo +nightly fuzz run digits_csv`: the body is `nabla_fuzz::digits_csv`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    nabla_fuzz::digits_csv(data);
});
