#![no_main]
//! `cargo +nightly fuzz run table_csv`: the body is `nabla_fuzz::table_csv`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    nabla_fuzz::table_csv(data);
});
