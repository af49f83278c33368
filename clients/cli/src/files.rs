//! Reading the files a user names (receipts, bundles, policies, keys, configs, import files, an
//! expense's evidence): never more than the file's kind may hold, whatever the file is
//! (`/dev/zero` included), and only as text where the kind is text. An expense's evidence is
//! hashed as it is read, never held whole. Writing the files a command makes (exports, bundles):
//! a new private file put in place whole ([`write_replacing`]).

use std::io::Read;
use std::path::Path;

/// Most bytes of a PEM file of CA certificates (`--tls-ca`).
pub const CERTIFICATES_BYTES_MAX: u64 = 1024 * 1024;

/// Most bytes of a file `fiscus import csv` reads (32 MiB, about 300,000 rows of a bank export):
/// every row is checked in memory before anything is recorded. A larger export is imported in
/// parts; importing a part again records nothing twice.
pub const IMPORT_FILE_BYTES_MAX: u64 = 32 * 1024 * 1024;

/// Most bytes of an expense's evidence file (its receipt: an invoice, a scan) that `fiscus`
/// hashes (1 GiB). A larger file, or one without end, is refused: give its blake3 hash instead.
pub const EVIDENCE_FILE_BYTES_MAX: u64 = 1024 * 1024 * 1024;

/// Writes a file a command makes at `path` through `write`: into a new file (mode 0600, its
/// owner the user) in the same folder, synced, then renamed over `path`, so that a crash leaves
/// the old file or the whole new one, and a file already at `path` (one another user made and
/// others may read) is replaced, never written into. Anything else at `path` is refused before
/// anything is written ([`refuse_unless_file`]): a symbolic link, a device, a pipe or a folder
/// would be replaced by the rename (`-o /dev/null` as root replaced the machine's `/dev/null`).
/// Returns what `write` returns; on an error, `path` is left as it was.
pub fn write_replacing<T>(
    path: &Path,
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<T>,
) -> std::io::Result<T> {
    refuse_unless_file(path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    let made = {
        let mut out = std::io::BufWriter::new(tmp.as_file_mut());
        let made = write(&mut out)?;
        std::io::Write::flush(&mut out)?;
        made
    };
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(made)
}

pub use fiscus_client::files::refuse_unless_file;

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

/// The bytes of `reader`, read up to `max` bytes and one more: refused as
/// [`FileError::TooLarge`] past `max`.
pub fn read_bytes_from(reader: impl Read, max: u64) -> Result<Vec<u8>, FileError> {
    let mut bytes = Vec::new();
    reader.take(max.saturating_add(1)).read_to_end(&mut bytes).map_err(FileError::Io)?;
    if bytes.len() as u64 > max {
        return Err(FileError::TooLarge(max));
    }
    Ok(bytes)
}

/// How long a pipe is waited for to open: a named pipe (made by `mkfifo`) opens only once a
/// program writes to it, and one nobody writes to would block its reader for good, as `cat` blocks.
pub const PIPE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The file at `path`, opened for reading, refused at once as [`FileError::TooLarge`] when it is a
/// regular file of more than `max` bytes (a large sparse file is not read to find out). A pipe
/// (`<(…)`, `/dev/stdin`, a named pipe) is waited for at most [`PIPE_WAIT`] to open.
pub fn open_within(path: &Path, max: u64) -> Result<std::fs::File, FileError> {
    let file = open_waiting(path, PIPE_WAIT)?;
    match file.metadata() {
        Ok(m) if m.is_file() && m.len() > max => Err(FileError::TooLarge(max)),
        _ => Ok(file),
    }
}

/// Opens `path` for reading; a pipe on a thread of its own, waited for at most `wait` (a thread
/// left blocked on a pipe nobody writes to ends with the process).
fn open_waiting(path: &Path, wait: std::time::Duration) -> Result<std::fs::File, FileError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo()) {
            let (tx, rx) = std::sync::mpsc::channel();
            let owned = path.to_owned();
            std::thread::spawn(move || {
                let _ = tx.send(std::fs::File::open(owned));
            });
            return match rx.recv_timeout(wait) {
                Ok(opened) => opened.map_err(FileError::Io),
                Err(_) => Err(FileError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "a pipe that did not open within {} s (a named pipe no program writes to?)",
                        wait.as_secs_f64()
                    ),
                ))),
            };
        }
    }
    std::fs::File::open(path).map_err(FileError::Io)
}

/// The bytes of the file at `path`, as [`read_bytes_from`] reads them.
pub fn read_bytes(path: &Path, max: u64) -> Result<Vec<u8>, FileError> {
    read_bytes_from(open_within(path, max)?, max)
}

/// The text of `reader`, read up to `max` bytes and one more: refused as
/// [`FileError::TooLarge`] past `max`, [`FileError::NotText`] when not UTF-8.
pub fn read_text_from(reader: impl Read, max: u64) -> Result<String, FileError> {
    String::from_utf8(read_bytes_from(reader, max)?).map_err(|_| FileError::NotText)
}

/// The blake3 hash of everything `reader` holds, and its length in bytes, read in pieces of 64 KiB
/// (never held whole) up to `max` bytes and one more: refused as [`FileError::TooLarge`] past `max`.
pub fn blake3_from(reader: impl Read, max: u64) -> Result<([u8; 32], u64), FileError> {
    let mut reader = reader.take(max.saturating_add(1));
    let mut hasher = blake3::Hasher::new();
    let mut piece = vec![0u8; 64 * 1024];
    let mut read = 0u64;
    loop {
        let n = match reader.read(&mut piece) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(FileError::Io(e)),
        };
        read += n as u64;
        if read > max {
            return Err(FileError::TooLarge(max));
        }
        hasher.update(piece.get(..n).unwrap_or_default());
    }
    Ok((*hasher.finalize().as_bytes(), read))
}

/// The blake3 hash and length of the file at `path`, as [`blake3_from`] makes them.
pub fn blake3_file(path: &Path, max: u64) -> Result<([u8; 32], u64), FileError> {
    blake3_from(open_within(path, max)?, max)
}

/// The text of the file at `path`, as [`read_text_from`] reads it.
pub fn read_text(path: &Path, max: u64) -> Result<String, FileError> {
    read_text_from(open_within(path, max)?, max)
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
        assert!(matches!(read_bytes_from(std::io::repeat(0), 10), Err(FileError::TooLarge(10))));
        // a named pipe no program writes to is waited for, not for good; one written to is read
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
        assert!(made.success());
        let waited = open_waiting(&fifo, std::time::Duration::from_millis(300)).expect_err("no writer");
        assert!(waited.message("fifo", "receipt").contains("did not open within 0.3 s"), "{waited:?}");
        // (another pipe: the first one's opening thread is still waiting on it)
        let fifo = dir.path().join("fifo-2");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
        assert!(made.success());
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::write(fifo, "a receipt"))
        };
        assert_eq!(read_named(&fifo, 100, "receipt").expect("written to"), "a receipt");
        writer.join().expect("the writer ends").expect("written");
        assert_eq!(read_bytes_from(&[0xff_u8, 0xfe][..], 10).expect("bytes, not text"), vec![0xff, 0xfe]);
    }

    /// The streamed hash is blake3's of the whole input, across pieces and at the limit; past the
    /// limit (an endless input included) it is refused.
    #[test]
    fn evidence_is_hashed_in_pieces_up_to_the_limit() {
        let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let whole = *blake3::hash(&bytes).as_bytes();
        assert_eq!(blake3_from(&bytes[..], bytes.len() as u64).expect("at the limit"), (whole, 200_000));
        assert_eq!(blake3_from(&b""[..], 0).expect("empty"), (*blake3::hash(b"").as_bytes(), 0));
        let past = blake3_from(&bytes[..], bytes.len() as u64 - 1).expect_err("one byte past");
        assert!(matches!(past, FileError::TooLarge(_)), "{past:?}");
        assert!(matches!(blake3_from(std::io::repeat(0), 1 << 20), Err(FileError::TooLarge(_))));
    }

    /// A regular file larger than the limit is refused from its size when it is opened, before a
    /// byte is read (a sparse file of 64 GiB had 1 GiB hashed first); a file at the limit, and a
    /// device, whose size says nothing, are opened to be read up to the limit.
    #[test]
    fn a_file_past_the_limit_is_refused_from_its_size() {
        let dir = tempfile::tempdir().expect("temp dir");
        let sparse = dir.path().join("sparse");
        std::fs::File::create(&sparse).and_then(|f| f.set_len(64 << 30)).expect("a sparse file");
        assert!(matches!(open_within(&sparse, EVIDENCE_FILE_BYTES_MAX), Err(FileError::TooLarge(_))));
        for refused in [
            blake3_file(&sparse, EVIDENCE_FILE_BYTES_MAX).map(|_| ()),
            read_bytes(&sparse, IMPORT_FILE_BYTES_MAX).map(|_| ()),
            read_text(&sparse, 1000).map(|_| ()),
        ] {
            assert!(matches!(refused, Err(FileError::TooLarge(_))), "{refused:?}");
        }
        let at = dir.path().join("at");
        std::fs::write(&at, [5u8; 1000]).expect("write");
        assert!(open_within(&at, 1000).is_ok());
        assert_eq!(read_text(&at, 1000).expect("at the limit").len(), 1000);
        assert!(open_within(Path::new("/dev/zero"), 10).is_ok(), "a device is read up to the limit");
    }
}
