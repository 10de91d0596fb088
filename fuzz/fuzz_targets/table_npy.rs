#![no_main]
//! `cargo +nightly fuzz run table_npy`: the body is `nabla_fuzz::table_npy`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    nabla_fuzz::table_npy(data);
});
