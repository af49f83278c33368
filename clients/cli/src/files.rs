//! Reading the files a user names (receipts, bundles, policies, keys, configs): never more than
//! the file's kind may hold, whatever the file is (`/dev/zero` included), and only as text.

use std::io::Read;
use std::path::Path;

/// Most bytes of a PEM file of CA certificates (`--tls-ca`).
pub const CERTIFICATES_BYTES_MAX: u64 = 1024 * 1024;

/// Why a file was not read.
#[derive(Debug)]
pub enum FileError {
    /// It could not be opened or read.
    Io(std::io::Error),
    /// It holds more than the limit (bytes) of its kind.
    TooLarge(u64),
    /// It is not UTF-8 text.
    NotText,
}

impl FileError {
    /// The message, for the file `name` of the kind `what` ("receipt", "witness policy" ...).
    pub fn message(&self, name: &str, what: &str) -> String {
        match self {
            FileError::Io(e) => format!("{name}: {e}"),
            FileError::TooLarge(max) => format!("{name}: a {what} is at most {max} bytes; this file is larger"),
            FileError::NotText => format!("{name}: a {what} is UTF-8 text; this file is not"),
        }
    }
}

/// The text of `reader`, read up to `max` bytes and one more: refused as
/// [`FileError::TooLarge`] past `max`, [`FileError::NotText`] when not UTF-8.
pub fn read_text_from(reader: impl Read, max: u64) -> Result<String, FileError> {
    let mut bytes = Vec::new();
    reader.take(max.saturating_add(1)).read_to_end(&mut bytes).map_err(FileError::Io)?;
    if bytes.len() as u64 > max {
        return Err(FileError::TooLarge(max));
    }
    String::from_utf8(bytes).map_err(|_| FileError::NotText)
}

/// The text of the file at `path`, as [`read_text_from`] reads it.
pub fn read_text(path: &Path, max: u64) -> Result<String, FileError> {
    read_text_from(std::fs::File::open(path).map_err(FileError::Io)?, max)
}

/// [`read_text`], with its error as the message for the file of the kind `what`.
pub fn read_named(path: &Path, max: u64, what: &str) -> Result<String, String> {
    read_text(path, max).map_err(|e| e.message(&path.display().to_string(), what))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An endless input is refused once past the limit (not read to its end), one at the limit
    /// is read whole, and bytes that are not UTF-8 are refused.
    #[test]
    fn reading_stops_at_the_limit_and_takes_text_only() {
        let err = read_text_from(std::io::repeat(b'a'), 1000).expect_err("endless");
        assert!(matches!(err, FileError::TooLarge(1000)), "{err:?}");
        assert_eq!(err.message("zero", "receipt"), "zero: a receipt is at most 1000 bytes; this file is larger");
        assert_eq!(read_text_from(std::io::repeat(b'a').take(1000), 1000).expect("at the limit").len(), 1000);
        assert!(matches!(read_text_from(&[0xff_u8, 0xfe][..], 1000), Err(FileError::NotText)));
        let missing = read_named(Path::new("/nonexistent/receipt.txt"), 10, "receipt").expect_err("no file");
        assert!(missing.starts_with("/nonexistent/receipt.txt: "), "{missing}");
    }
}
