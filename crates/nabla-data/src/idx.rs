//! The IDX format of MNIST and Fashion-MNIST (LeCun et al.), gzip-compressed or raw.
//!
//! All header integers are 32-bit big-endian. An image file is magic 2051, count N, rows R,
//! columns C, then N·R·C unsigned bytes; a label file is magic 2049, count N, then N bytes.

use std::path::Path;

use crate::content::read_content;
use crate::DataError;

/// Magic number of an IDX file of unsigned-byte images (`0x00000803`).
pub const IMAGES_MAGIC: u32 = 2051;
/// Magic number of an IDX file of unsigned-byte labels (`0x00000801`).
pub const LABELS_MAGIC: u32 = 2049;

/// The images of one IDX image file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    /// Number of images.
    pub count: usize,
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
    /// `[count, rows * cols]` pixels, row-major, one image after another.
    pub pixels: Vec<u8>,
}

/// Reads an IDX image file (gzip or raw).
pub fn read_images(path: &Path) -> Result<IdxImages, DataError> {
    parse_images(path, read_content(path)?)
}

/// Reads an IDX label file (gzip or raw).
pub fn read_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    parse_labels(path, read_content(path)?)
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Checks the magic number and that the header is complete; returns the header's integers.
fn header<const N: usize>(path: &Path, bytes: &[u8], kind: &'static str, magic: u32) -> Result<[u32; N], DataError> {
    let header_len = 4 * (N + 1);
    if bytes.len() >= 4 && be_u32(bytes, 0) != magic {
        return Err(DataError::BadMagic { path: path.to_path_buf(), kind, expected: magic, found: be_u32(bytes, 0) });
    }
    if bytes.len() < header_len {
        return Err(DataError::BadLength {
            path: path.to_path_buf(),
            what: format!("bytes (an IDX {kind} header is {header_len} bytes)"),
            expected: header_len as u64,
            found: bytes.len() as u64,
        });
    }
    Ok(std::array::from_fn(|i| be_u32(bytes, 4 * (i + 1))))
}

/// Parses the decompressed bytes of an IDX image file; `path` is only used in errors.
pub fn parse_images(path: &Path, mut bytes: Vec<u8>) -> Result<IdxImages, DataError> {
    let [count, rows, cols] = header::<3>(path, &bytes, "images", IMAGES_MAGIC)?;
    let (count, rows, cols) = (count as usize, rows as usize, cols as usize);
    let expected = count.checked_mul(rows).and_then(|n| n.checked_mul(cols)).and_then(|n| n.checked_add(16));
    if expected != Some(bytes.len()) {
        return Err(DataError::BadLength {
            path: path.to_path_buf(),
            what: format!("bytes (16-byte header + {count} images of {rows}x{cols})"),
            expected: expected.map_or(u64::MAX, |n| n as u64),
            found: bytes.len() as u64,
        });
    }
    bytes.drain(..16);
    Ok(IdxImages { count, rows, cols, pixels: bytes })
}

/// Parses the decompressed bytes of an IDX label file; `path` is only used in errors.
pub fn parse_labels(path: &Path, mut bytes: Vec<u8>) -> Result<Vec<u8>, DataError> {
    let [count] = header::<1>(path, &bytes, "labels", LABELS_MAGIC)?;
    let expected = (count as u64) + 8;
    if expected != bytes.len() as u64 {
        return Err(DataError::BadLength {
            path: path.to_path_buf(),
            what: format!("bytes (8-byte header + {count} labels)"),
            expected,
            found: bytes.len() as u64,
        });
    }
    bytes.drain(..8);
    Ok(bytes)
}

/// The bytes of an IDX image file holding `pixels` as `count` images of `rows x cols`
/// (for tests and tools that write small IDX files).
pub fn encode_images(rows: u32, cols: u32, pixels: &[u8]) -> Vec<u8> {
    let per_image = (rows as usize * cols as usize).max(1);
    let count = (pixels.len() / per_image) as u32;
    let mut out = Vec::with_capacity(16 + pixels.len());
    for word in [IMAGES_MAGIC, count, rows, cols] {
        out.extend_from_slice(&word.to_be_bytes());
    }
    out.extend_from_slice(pixels);
    out
}

/// The bytes of an IDX label file holding `labels`.
pub fn encode_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + labels.len());
    out.extend_from_slice(&LABELS_MAGIC.to_be_bytes());
    out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    out.extend_from_slice(labels);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("x-idx3-ubyte")
    }

    #[test]
    fn round_trip() {
        let pixels: Vec<u8> = (0..24).collect();
        let imgs = parse_images(p(), encode_images(3, 4, &pixels)).unwrap();
        assert_eq!((imgs.count, imgs.rows, imgs.cols), (2, 3, 4));
        assert_eq!(imgs.pixels, pixels);
        assert_eq!(parse_labels(p(), encode_labels(&[3, 1, 4])).unwrap(), vec![3, 1, 4]);
    }

    #[test]
    fn wrong_magic_names_both_numbers() {
        let err = parse_images(p(), encode_labels(&[1, 2])).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, DataError::BadMagic { expected: 2051, found: 2049, .. }), "{err:?}");
        assert!(msg.contains("x-idx3-ubyte") && msg.contains("2049") && msg.contains("2051"), "{msg}");
        assert!(matches!(parse_labels(p(), encode_images(1, 1, &[0])).unwrap_err(), DataError::BadMagic { .. }));
    }

    #[test]
    fn truncated_and_overlong_files_give_expected_and_found() {
        let mut bytes = encode_images(2, 2, &[1; 12]);
        bytes.pop();
        let msg = parse_images(p(), bytes).unwrap_err().to_string();
        assert!(msg.contains("expected 28, found 27"), "{msg}");
        assert!(msg.contains("3 images of 2x2"), "{msg}");

        let mut bytes = encode_labels(&[1, 2, 3]);
        bytes.push(0);
        let msg = parse_labels(p(), bytes).unwrap_err().to_string();
        assert!(msg.contains("expected 11, found 12"), "{msg}");
    }

    #[test]
    fn short_header_is_a_length_error() {
        let msg = parse_images(p(), IMAGES_MAGIC.to_be_bytes().to_vec()).unwrap_err().to_string();
        assert!(msg.contains("expected 16, found 4"), "{msg}");
        assert!(parse_labels(p(), Vec::new()).is_err());
    }

    #[test]
    fn absurd_header_counts_do_not_overflow() {
        let mut bytes = Vec::new();
        for w in [IMAGES_MAGIC, u32::MAX, u32::MAX, u32::MAX] {
            bytes.extend_from_slice(&w.to_be_bytes());
        }
        assert!(matches!(parse_images(p(), bytes).unwrap_err(), DataError::BadLength { .. }));
    }
}
