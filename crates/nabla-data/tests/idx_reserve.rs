//! Regression (issue 21, found by the fuzzer's review): a 16-byte IDX file whose header
//! declares a gigabyte of images made the reader reserve that gigabyte before reading a byte.
//! This binary's allocator records the largest request it sees.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Largest;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Largest = Largest;

#[test]
fn a_tiny_idx_file_declaring_a_gigabyte_reserves_at_most_64_mib() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("train-images-idx3-ubyte");
    // Magic 0x803, then 4,000 images of 500 × 500 (1 GB), and no pixels at all.
    let mut header = Vec::new();
    for v in [0x0000_0803u32, 4_000, 500, 500] {
        header.extend_from_slice(&v.to_be_bytes());
    }
    std::fs::write(&path, &header).unwrap();
    let err = nabla_data::idx::read_images(&path).unwrap_err();
    assert!(err.to_string().contains("train-images-idx3-ubyte"), "{err}");
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(largest <= (64 << 20) + 64, "the reader asked for {largest} bytes at once");
}
