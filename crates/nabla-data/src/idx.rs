//! The IDX format of MNIST and Fashion-MNIST (LeCun et al.), gzip-compressed or raw.
//!
//! All header integers are 32-bit big-endian. An image file is magic 2051, count N, rows R,
//! columns C, then N·R·C unsigned bytes; a label file is magic 2049, count N, then N bytes.

use std::path::Path;

use nabla::limits::MAX_IDX_BYTES;

use crate::content::Content;
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
    // Saturating: three large dimensions overflow u64, and a saturated size is refused anyway.
    let body = |h: &[u8]| {
        u64::from(be_u32(h, 4)).saturating_mul(u64::from(be_u32(h, 8))).saturating_mul(u64::from(be_u32(h, 12)))
    };
    parse_images(path, read_declared(path, IMAGES_MAGIC, 16, body)?)
}

/// Reads an IDX label file (gzip or raw).
pub fn read_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    parse_labels(path, read_declared(path, LABELS_MAGIC, 8, |h| u64::from(be_u32(h, 4)))?)
}

/// The content of an IDX file, read no further than its header declares (plus one byte, to
/// tell a file that goes on): a gzip that inflates far past its header is refused after the
/// declared size, not after inflating whole. A short file comes back as it is, for the parser
/// to name what is missing, and so does one of another kind (its magic number).
/// The most [`read_declared`] reserves before reading.
const RESERVE_UP_FRONT: usize = 64 << 20;

fn read_declared(path: &Path, magic: u32, header: usize, body: impl Fn(&[u8]) -> u64) -> Result<Vec<u8>, DataError> {
    let mut content = Content::open(path)?;
    let mut bytes = Vec::with_capacity(header);
    content.read_at_most(header as u64, &mut bytes)?;
    if bytes.len() < header || be_u32(&bytes, 0) != magic {
        return Ok(bytes);
    }
    let declared = (header as u64).saturating_add(body(&bytes));
    if declared > MAX_IDX_BYTES {
        return Err(DataError::BadLength {
            path: path.to_path_buf(),
            what: format!("bytes declared by its header (nabla reads IDX files of at most {MAX_IDX_BYTES} bytes)"),
            expected: MAX_IDX_BYTES,
            found: declared,
        });
    }
    // Reserve what the header declares, but no more than 64 MiB before the bytes are there: a
    // 16-byte file declaring 1 GiB must not make the reader ask for 1 GiB (the vector grows
    // past this as real content arrives; MNIST's largest file is 47 MB).
    bytes.reserve_exact(((declared - header as u64) as usize).min(RESERVE_UP_FRONT));
    content.read_at_most(declared - header as u64 + 1, &mut bytes)?;
    if bytes.len() as u64 > declared {
        return Err(DataError::BadLength {
            path: path.to_path_buf(),
            what: "bytes: the content goes on past what its header declares (read stopped one byte after)".into(),
            expected: declared,
            found: declared + 1,
        });
    }
    Ok(bytes)
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

    /// `bytes` gzip-compressed into a file in `dir`.
    fn gzip_file(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        use std::io::Write as _;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(bytes).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, gz.finish().unwrap()).unwrap();
        path
    }

    // Regression (issue 21): a small gzip whose header declares 10 images but which inflates to
    // gigabytes was decompressed whole before the size check.
    #[test]
    fn content_past_the_header_stops_the_read_and_absurd_headers_are_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let mut bomb = encode_images(28, 28, &vec![0; 10 * 784]);
        bomb.resize(bomb.len() + (64 << 20), 0);
        let path = gzip_file(dir.path(), "bomb-idx3-ubyte.gz", &bomb);
        assert!(std::fs::metadata(&path).unwrap().len() < 200_000);
        let e = read_images(&path).unwrap_err().to_string();
        assert!(e.contains("goes on past what its header declares") && e.contains("expected 7856"), "{e}");

        let mut huge = IMAGES_MAGIC.to_be_bytes().to_vec();
        for n in [u32::MAX, 28, 28] {
            huge.extend_from_slice(&n.to_be_bytes());
        }
        let path = gzip_file(dir.path(), "huge-idx3-ubyte.gz", &huge);
        let e = read_images(&path).unwrap_err().to_string();
        assert!(e.contains("at most 1073741824 bytes"), "{e}");

        // Files that are what they say still read, and the wrong kind is still named.
        let labels = gzip_file(dir.path(), "l-idx1-ubyte.gz", &encode_labels(&[1, 2, 3]));
        assert_eq!(read_labels(&labels).unwrap(), [1, 2, 3]);
        assert!(matches!(read_images(&labels).unwrap_err(), DataError::BadMagic { .. }));
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

/// Regressions found by fuzzing (`cargo fuzz run idx`).
#[cfg(test)]
mod fuzz_findings {
    use super::*;

    // The declared size, count × rows × cols, was multiplied in u64 unchecked: three large
    // dimensions overflowed it (a panic in a debug build, a wrapped size in a release one).
    #[test]
    fn idx_header_whose_size_overflows_u64_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut header = IMAGES_MAGIC.to_be_bytes().to_vec();
        for n in [0x8989_8989u32, 0x8989_8989, 0x8989_8989] {
            header.extend_from_slice(&n.to_be_bytes());
        }
        let path = dir.path().join("overflow-idx3-ubyte");
        std::fs::write(&path, &header).unwrap();
        let e = read_images(&path).unwrap_err().to_string();
        assert!(e.contains("at most 1073741824 bytes"), "{e}");
    }
}
