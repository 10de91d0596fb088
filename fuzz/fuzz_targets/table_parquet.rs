#![no_main]
//! `cargo +nightly fuzz run table_parquet`: the body is `nabla_fuzz::table_parquet`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    nabla_fuzz::table_parquet(data);
});
