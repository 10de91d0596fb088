//! Reading a data file's content whether it is gzip-compressed or not, and hashing it.
//!
//! A file is treated as gzip when it starts with the gzip magic bytes, whatever its name.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use flate2::read::MultiGzDecoder;
use sha2::{Digest, Sha256};

use crate::DataError;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The sha256 (hex) of a file's decompressed content and of its bytes as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hashes {
    /// sha256 of the content after decompression (of the bytes themselves for a plain file).
    pub content: String,
    /// sha256 of the file as it is on disk.
    pub file: String,
}

/// Opens `path` and tells whether it is gzip; the reader is rewound to the start.
fn open(path: &Path) -> Result<(File, bool), DataError> {
    let mut file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut magic = [0u8; 2];
    let mut got = 0;
    while got < 2 {
        match file.read(&mut magic[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(DataError::io(path, e)),
        }
    }
    file.seek(SeekFrom::Start(0)).map_err(|e| DataError::io(path, e))?;
    Ok((file, got == 2 && magic == GZIP_MAGIC))
}

/// A guess at the decompressed size, used only to size the buffer once: the gzip trailer's
/// ISIZE field (the length modulo 2^32), or the file length for a plain file.
fn size_hint(file: &mut File, gzip: bool) -> usize {
    const MAX_HINT: u64 = 1 << 30;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let hint = if gzip && len >= 18 {
        let mut trailer = [0u8; 4];
        let ok = file.seek(SeekFrom::End(-4)).is_ok() && file.read_exact(&mut trailer).is_ok();
        if file.seek(SeekFrom::Start(0)).is_err() || !ok {
            0
        } else {
            u64::from(u32::from_le_bytes(trailer))
        }
    } else {
        len
    };
    usize::try_from(hint.min(MAX_HINT)).unwrap_or(0)
}

/// The whole content of `path`, decompressed if it is gzip.
pub fn read_content(path: &Path) -> Result<Vec<u8>, DataError> {
    let (file, gzip) = open(path)?;
    let mut file = file;
    let hint = size_hint(&mut file, gzip);
    let mut out = Vec::with_capacity(hint);
    Content::new(path, file, gzip).read_to_end(&mut out)?;
    Ok(out)
}

/// A data file's content as a stream, decompressed when the file is gzip: for readers that
/// must stop before the end (an IDX file is read no further than its header says, so that a
/// small gzip that inflates without end costs nothing).
pub struct Content<'p> {
    path: &'p Path,
    gzip: bool,
    reader: Box<dyn Read>,
}

impl<'p> Content<'p> {
    /// Opens `path`, telling gzip from plain by its first bytes.
    pub fn open(path: &'p Path) -> Result<Self, DataError> {
        let (file, gzip) = open(path)?;
        Ok(Content::new(path, file, gzip))
    }

    fn new(path: &'p Path, file: File, gzip: bool) -> Self {
        let file = BufReader::with_capacity(1 << 16, file);
        let reader: Box<dyn Read> = if gzip { Box::new(MultiGzDecoder::new(file)) } else { Box::new(file) };
        Content { path, gzip, reader }
    }

    /// Appends at most `limit` more bytes of content to `out`; returns how many.
    pub fn read_at_most(&mut self, limit: u64, out: &mut Vec<u8>) -> Result<usize, DataError> {
        let (path, gzip) = (self.path, self.gzip);
        self.reader.by_ref().take(limit).read_to_end(out).map_err(|error| {
            if gzip {
                DataError::Gzip { path: path.to_path_buf(), error }
            } else {
                DataError::io(path, error)
            }
        })
    }

    /// Appends the rest of the content to `out`.
    pub fn read_to_end(&mut self, out: &mut Vec<u8>) -> Result<usize, DataError> {
        self.read_at_most(u64::MAX, out)
    }
}

/// Passes bytes through while hashing them.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Hashes `path` as stored and as decompressed, in one streaming pass.
pub fn hash_file(path: &Path) -> Result<Hashes, DataError> {
    let (file, gzip) = open(path)?;
    let mut raw = HashingReader { inner: BufReader::with_capacity(1 << 16, file), hasher: Sha256::new() };
    let mut buf = vec![0u8; 1 << 16];
    if gzip {
        let mut content_hasher = Sha256::new();
        let mut decoder = MultiGzDecoder::new(&mut raw);
        loop {
            let n = match decoder.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(DataError::Gzip { path: path.to_path_buf(), error }),
            };
            content_hasher.update(&buf[..n]);
        }
        drop(decoder);
        // Bytes after the last gzip member (none in a good file) still belong to the file hash.
        io::copy(&mut raw, &mut io::sink()).map_err(|e| DataError::io(path, e))?;
        Ok(Hashes { content: hex(&content_hasher.finalize()), file: hex(&raw.hasher.finalize()) })
    } else {
        io::copy(&mut raw, &mut io::sink()).map_err(|e| DataError::io(path, e))?;
        let sum = hex(&raw.hasher.finalize());
        Ok(Hashes { content: sum.clone(), file: sum })
    }
}

/// Lower-case hex of a byte string.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn sha256_of_abc_is_the_fips_example() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("abc");
        std::fs::write(&plain, b"abc").unwrap();
        let h = hash_file(&plain).unwrap();
        assert_eq!(h.content, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(h.file, h.content);

        // The same content gzipped: the content hash stays, the file hash changes.
        let gz = dir.path().join("abc.gz");
        std::fs::write(&gz, gzip(b"abc")).unwrap();
        let hg = hash_file(&gz).unwrap();
        assert_eq!(hg.content, h.content);
        assert_ne!(hg.file, h.file);
        assert_eq!(read_content(&gz).unwrap(), b"abc");
    }

    #[test]
    fn cut_gzip_is_a_gzip_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.gz");
        let full = gzip(&[7u8; 10_000]);
        std::fs::write(&path, &full[..full.len() / 2]).unwrap();
        let err = read_content(&path).unwrap_err();
        assert!(matches!(err, DataError::Gzip { .. }), "{err:?}");
        assert!(err.to_string().contains("cut.gz"), "{err}");
        assert!(matches!(hash_file(&path).unwrap_err(), DataError::Gzip { .. }));
    }

    #[test]
    fn missing_file_is_an_io_error_naming_it() {
        let err = read_content(Path::new("/nonexistent/nabla/x.gz")).unwrap_err();
        assert!(err.to_string().starts_with("/nonexistent/nabla/x.gz: "), "{err}");
    }
}
