#![no_main]
//! `cargo +nightly fuzz run fit_csv`: the body is `nabla_fuzz::fit_csv`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    nabla_fuzz::fit_csv(data);
});
