//! Reading the small files `fiscusd` and `fiscus` are given (a config file, a tokens file, TLS
//! certificates and keys) or keep themselves (the log's key, a store's `holder` and sled's `conf`):
//! one rule for all of them, in [`read_bounded`].
//!
//! - Only a regular file is read. A named pipe nobody writes to would block its reader for good,
//!   and a device such as `/dev/zero` never ends; both, and a folder or a socket, are refused at
//!   once, naming what they are ([`check_regular`]). A file the program keeps is also refused when
//!   it is a symbolic link ([`Links::Refuse`]): it made that file itself, so a link there is not its
//!   own, and advice such as `chmod` would reach whatever the link names.
//! - Every kind of file has a byte limit: a regular file over it is refused from its size (a sparse
//!   file of 20 GB is not read to find out), and the read itself stops one byte past the limit.
//! - The file is opened without waiting (`O_NONBLOCK`) and checked again once open, so that a pipe
//!   put in place between the check and the open is refused too, not waited on.

use std::io::{self, Read};
use std::path::Path;

/// How a path that is a symbolic link is taken.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Links {
    /// Followed: a file an operator names (a config file, a tokens file, a certificate), which
    /// may be managed elsewhere and linked into place.
    Follow,
    /// Refused: a file the program keeps and made itself (the log's key, a store's files).
    Refuse,
}

/// The metadata of `path` (of the link itself under [`Links::Refuse`]) when it is a regular file;
/// anything else is an error of kind `InvalidInput` saying what it is instead ("is not a regular
/// file (a named pipe) ..."), with no advice that would act on it. A missing path is the
/// operating system's error (kind `NotFound`). The message does not name the path: callers do.
pub fn check_regular(path: &Path, links: Links) -> io::Result<std::fs::Metadata> {
    let meta = match links {
        Links::Follow => std::fs::metadata(path)?,
        Links::Refuse => std::fs::symlink_metadata(path)?,
    };
    refuse_unless_regular(&meta, links)?;
    Ok(meta)
}

/// The bytes of the regular file at `path`, of the kind `what` ("config file", "TLS key" ...), at
/// most `max_bytes` of them: anything but a regular file is refused ([`check_regular`]), a file
/// over `max_bytes` is refused from its size, and at most `max_bytes` + 1 bytes are read. Errors
/// do not name the path (callers do) but say what is wrong in words.
pub fn read_bounded(path: &Path, max_bytes: u64, what: &str, links: Links) -> io::Result<Vec<u8>> {
    let meta = check_regular(path, links)?;
    refuse_over(meta.len(), max_bytes, what)?;
    let file = open_without_waiting(path, links)?;
    let meta = file.metadata()?;
    refuse_unless_regular(&meta, links)?;
    refuse_over(meta.len(), max_bytes, what)?;
    let mut bytes = Vec::new();
    file.take(max_bytes.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_bytes {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("holds more than {max_bytes} bytes; a {what} is at most {max_bytes} bytes"),
        ));
    }
    Ok(bytes)
}

/// [`read_bounded`], as UTF-8 text (an error of kind `InvalidData` when it is not).
pub fn read_text_bounded(path: &Path, max_bytes: u64, what: &str, links: Links) -> io::Result<String> {
    String::from_utf8(read_bounded(path, max_bytes, what, links)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("is not UTF-8 text; a {what} is text")))
}

/// What `path` is, in words ([`kind_of`]), when it is there but is no folder (a file, a device, a
/// pipe); `None` for a folder, a link to one, or nothing there. One rule for every folder a
/// program is given (a store's, fiscusd's `--data`, a witness's state).
pub fn not_a_folder(path: &Path) -> Option<&'static str> {
    std::fs::metadata(path).ok().filter(|m| !m.is_dir()).map(|m| kind_of(&m))
}

/// What a path is, in words: "a regular file", "a folder", "a device", "a named pipe" …
pub fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    let kind = meta.file_type();
    if kind.is_file() {
        return "a regular file";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if kind.is_fifo() {
            return "a named pipe";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a folder"
    } else if kind.is_symlink() {
        "a symbolic link"
    } else {
        "not a file"
    }
}

fn refuse_unless_regular(meta: &std::fs::Metadata, links: Links) -> io::Result<()> {
    if meta.is_file() {
        return Ok(());
    }
    let remedy = match links {
        Links::Follow => "give the path of a regular file",
        Links::Refuse => "the program keeps a regular file of its own here; put the file itself in its place",
    };
    Err(io::Error::new(io::ErrorKind::InvalidInput, format!("is not a regular file ({}): {remedy}", kind_of(meta))))
}

fn refuse_over(len: u64, max_bytes: u64, what: &str) -> io::Result<()> {
    if len > max_bytes {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("is {len} bytes; a {what} is at most {max_bytes} bytes"),
        ));
    }
    Ok(())
}

/// Opens `path` for reading without blocking on a pipe (`O_NONBLOCK`; reads of a regular file
/// are not affected), and without following a link under [`Links::Refuse`].
#[cfg(unix)]
fn open_without_waiting(path: &Path, links: Links) -> io::Result<std::fs::File> {
    use rustix::fs::{Mode, OFlags};
    let mut flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
    if links == Links::Refuse {
        flags |= OFlags::NOFOLLOW;
    }
    let fd = rustix::fs::open(path, flags, Mode::empty())?;
    Ok(std::fs::File::from(fd))
}

#[cfg(not(unix))]
fn open_without_waiting(path: &Path, _links: Links) -> io::Result<std::fs::File> {
    std::fs::File::open(path)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn mkfifo(path: &Path) {
        let made = std::process::Command::new("mkfifo").arg(path).status().expect("mkfifo runs");
        assert!(made.success(), "mkfifo {}", path.display());
    }

    /// A named pipe nobody writes to, a device that never ends and a folder are refused at once,
    /// saying what they are; a link is followed or refused as asked.
    #[test]
    fn only_a_regular_file_is_read() {
        let dir = tempfile::tempdir().expect("temp dir");
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        for links in [Links::Follow, Links::Refuse] {
            let e = read_bounded(&fifo, 100, "config file", links).expect_err("a pipe");
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
            assert!(e.to_string().contains("is not a regular file (a named pipe)"), "{e}");
        }
        let e = read_bounded(Path::new("/dev/zero"), 100, "TLS key", Links::Follow).expect_err("a device");
        assert!(e.to_string().contains("is not a regular file (a device)"), "{e}");
        let e = read_bounded(dir.path(), 100, "config file", Links::Follow).expect_err("a folder");
        assert!(e.to_string().contains("is not a regular file (a folder)"), "{e}");
        let file = dir.path().join("file");
        std::fs::write(&file, "text").expect("write");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).expect("symlink");
        assert_eq!(read_text_bounded(&link, 100, "config file", Links::Follow).expect("followed"), "text");
        let e = read_bounded(&link, 100, "log key", Links::Refuse).expect_err("a link is refused");
        assert!(e.to_string().contains("is not a regular file (a symbolic link)"), "{e}");
        let to_zero = dir.path().join("to-zero");
        std::os::unix::fs::symlink("/dev/zero", &to_zero).expect("symlink");
        let e = read_bounded(&to_zero, 100, "TLS key", Links::Follow).expect_err("a link to a device");
        assert!(e.to_string().contains("(a device)"), "{e}");
        let missing = read_bounded(&dir.path().join("none"), 100, "config file", Links::Follow).expect_err("missing");
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }

    /// A file over the limit is refused from its size (a sparse file of 20 GiB is not read); one
    /// at the limit is read whole.
    #[test]
    fn a_file_over_its_limit_is_refused_from_its_size() {
        let dir = tempfile::tempdir().expect("temp dir");
        let sparse = dir.path().join("sparse");
        std::fs::File::create(&sparse).and_then(|f| f.set_len(20 << 30)).expect("a sparse file");
        let e = read_bounded(&sparse, 4096, "log key", Links::Refuse).expect_err("too large");
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("is 21474836480 bytes; a log key is at most 4096 bytes"), "{e}");
        let at = dir.path().join("at");
        std::fs::write(&at, [b'a'; 4096]).expect("write");
        assert_eq!(read_bounded(&at, 4096, "log key", Links::Refuse).expect("at the limit").len(), 4096);
        assert!(read_bounded(&at, 4095, "log key", Links::Refuse).is_err());
        std::fs::write(&at, [0xff, 0xfe]).expect("write");
        let e = read_text_bounded(&at, 10, "config file", Links::Follow).expect_err("not text");
        assert!(e.to_string().contains("not UTF-8"), "{e}");
    }
}
