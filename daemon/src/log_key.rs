//! The transparency log's signing key: one Ed25519 note key (C2SP signed-note) in the data
//! folder, made on first start, readable by its owner only ([`fiscus_ledger::private`]). Its name
//! is the log's origin line, so a checkpoint's signature line names the origin, as C2SP
//! tlog-checkpoint requires; `fiscusd key show` prints its verifier key (`name+keyid+base64`), the
//! one every client pins.

use std::io::Write;
use std::path::{Path, PathBuf};

use fiscus_ledger::files::{read_text_bounded, Links};
use fiscus_ledger::private;
use fiscus_tlog::NoteSigner;

/// The key's file name in the data folder.
pub const KEY_FILE: &str = "log.key";

/// Most bytes of the key file: one signer key line (`PRIVATE+KEY+` origin, key id and key) is
/// under 400 bytes with the longest origin.
pub const KEY_FILE_BYTES_MAX: u64 = 4096;

/// The origin line when the config names none. An operator should set `log_origin` to a name of
/// their own (by recommendation a schema-less URL such as `books.example.org/fiscus`): witnesses
/// tell logs apart by it.
pub const ORIGIN_DEFAULT: &str = "localhost/fiscus";

/// Most bytes of an origin line: a schema-less URL fits well within it, and the key, the signed
/// checkpoints and every witness's state repeat it.
pub const ORIGIN_BYTES_MAX: usize = 255;

/// Checks an origin line before any key is made for it: a C2SP signed-note key name (non-empty, no
/// Unicode space, no `+`), at most [`ORIGIN_BYTES_MAX`] bytes, and text that displays as it is (no
/// control, bidirectional or invisible characters: `fiscus_ledger::ids::check_text`), since clients
/// pin it by sight. The error says what is wrong, in words.
pub fn check_origin(origin: &str) -> Result<(), String> {
    if !fiscus_tlog::note::is_valid_key_name(origin) {
        return Err(format!("{origin:?} is not a log origin: non-empty, no space, no '+'"));
    }
    if origin.len() > ORIGIN_BYTES_MAX {
        return Err(format!("a log origin is at most {ORIGIN_BYTES_MAX} bytes; this one is {}", origin.len()));
    }
    fiscus_ledger::ids::check_text("log_origin", origin, ORIGIN_BYTES_MAX, false, false).map_err(|e| e.to_string())
}

/// Why the key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read, made or checked.
    #[error("log key {path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The file does not hold a signer key.
    #[error("log key {path}: {message}")]
    Malformed {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The file is not one to use as it is (not a regular file, or others may write it); the
    /// message names it.
    #[error("{0}")]
    Refused(String),
    /// No key in the data folder, and none may be made.
    #[error(
        "no log key {path}: fiscusd makes it on its first start (`fiscusd --data DIR --create`), or `fiscusd key \
         show --create` makes it now; check --data names the right folder"
    )]
    Missing {
        /// The key file looked for.
        path: PathBuf,
    },
    /// The key was made for another origin than the one expected.
    #[error(
        "log key {path} signs for origin {found:?}, not {expected:?}{}: the checkpoints of one log keep one \
         origin; give --log-origin {found:?} (or log_origin = {found:?} in the config file) to use this key, or \
         move the key away to start a new log identity",
        from.as_deref().map(|f| format!(" ({f})")).unwrap_or_default()
    )]
    WrongOrigin {
        /// The key file.
        path: PathBuf,
        /// The origin expected.
        expected: String,
        /// The key's name.
        found: String,
        /// Where the expected origin came from, when the caller says ([`KeyError::origin_from`]).
        from: Option<String>,
    },
}

/// Where the origin a key is checked against came from, for [`KeyError::WrongOrigin`]'s message:
/// the default, `--log-origin`, or a config file's `log_origin`.
#[derive(Debug, Clone, Copy)]
pub enum OriginFrom<'a> {
    /// Neither the flag nor a config file named one: [`ORIGIN_DEFAULT`].
    Default,
    /// `--log-origin`.
    Flag,
    /// The `log_origin` of this config file.
    ConfigFile(&'a Path),
}

impl std::fmt::Display for OriginFrom<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OriginFrom::Default => {
                write!(f, "the default origin, as neither --log-origin nor a config file's log_origin gives one")
            }
            OriginFrom::Flag => write!(f, "given with --log-origin"),
            OriginFrom::ConfigFile(path) => write!(f, "the log_origin of the config file {}", path.display()),
        }
    }
}

impl KeyError {
    /// The same error, a [`KeyError::WrongOrigin`] saying where its expected origin came from.
    pub fn origin_from(self, from: OriginFrom<'_>) -> KeyError {
        match self {
            KeyError::WrongOrigin { path, expected, found, .. } => {
                KeyError::WrongOrigin { path, expected, found, from: Some(from.to_string()) }
            }
            other => other,
        }
    }
}

/// The key in `data`'s [`KEY_FILE`]; made (mode 0600) when absent. Also answers a warning when
/// group or others may read it. The data folder is made private when it does not exist.
pub fn load_or_create(data: &Path, origin: &str) -> Result<(NoteSigner, Option<String>), KeyError> {
    let path = data.join(KEY_FILE);
    let io = |source| KeyError::Io { path: path.clone(), source };
    // (before the folder is made: a refused origin left an empty data folder behind)
    check_origin(origin).map_err(|message| KeyError::Malformed { path: path.clone(), message })?;
    private::create_dir(data, "data folder").map_err(io)?;
    // (the link itself: a dangling link there is refused by `load`, not written through)
    let absent = matches!(std::fs::symlink_metadata(&path), Err(e) if e.kind() == std::io::ErrorKind::NotFound);
    if absent {
        let signer = NoteSigner::generate(origin)
            .map_err(|e| KeyError::Malformed { path: path.clone(), message: format!("origin {origin:?}: {e}") })?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(private::FILE_MODE);
        }
        let mut file = options.open(&path).map_err(io)?;
        file.write_all(format!("{}\n", signer.signer_key()).as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
    }
    load(data, origin)
}

/// The key in `data`'s [`KEY_FILE`], made by [`load_or_create`] before ([`KeyError::Missing`] when
/// there is none: a mistyped folder gets no key that could be pinned by mistake). Also answers a
/// warning when group or others may read it.
pub fn load(data: &Path, origin: &str) -> Result<(NoteSigner, Option<String>), KeyError> {
    let path = data.join(KEY_FILE);
    let io = |source| KeyError::Io { path: path.clone(), source };
    match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(KeyError::Missing { path }),
        Err(e) => return Err(io(e)),
        Ok(_) => {}
    }
    // A pipe, a device or a link there is refused before any mode advice (`chmod` would act on
    // what a link names), and the read is bounded.
    let warning = private::check_file(&path, "log key", Links::Refuse).map_err(|e| match e.kind() {
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::InvalidInput => KeyError::Refused(e.to_string()),
        _ => io(e),
    })?;
    let text = read_text_bounded(&path, KEY_FILE_BYTES_MAX, "log key", Links::Refuse).map_err(io)?;
    let signer = NoteSigner::from_signer_key(text.trim_end())
        .map_err(|e| KeyError::Malformed { path: path.clone(), message: e.to_string() })?;
    if signer.name() != origin {
        return Err(KeyError::WrongOrigin {
            path,
            expected: origin.to_owned(),
            found: signer.name().to_owned(),
            from: None,
        });
    }
    Ok((signer, warning))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_that_cannot_serve_is_refused_before_a_key_is_made() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        for origin in ["x".repeat(5000), "books.example/\u{202E}sucsif".to_owned(), "a b".to_owned()] {
            let e = load_or_create(&data, &origin).unwrap_err().to_string();
            assert!(e.contains("origin"), "{e}");
            assert!(!data.join(KEY_FILE).exists(), "no key is kept for {origin:?}");
        }
        assert!(load_or_create(&data, &"x".repeat(ORIGIN_BYTES_MAX)).is_ok());
    }

    #[test]
    fn the_key_is_made_once_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let (first, warning) = load_or_create(&data, "books.example/fiscus").unwrap();
        assert!(warning.is_none());
        let (again, _) = load_or_create(&data, "books.example/fiscus").unwrap();
        assert_eq!(first.verifier_key(), again.verifier_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(data.join(KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(matches!(load_or_create(&data, "other.example/fiscus"), Err(KeyError::WrongOrigin { .. })));
        std::fs::write(data.join(KEY_FILE), "not a key\n").unwrap();
        assert!(matches!(load_or_create(&data, "books.example/fiscus"), Err(KeyError::Malformed { .. })));
    }

    /// A named pipe as the key is refused at once (reading it blocked for good), a sparse file of
    /// 20 GiB from its size (it was read whole: out of memory), and a link, even to a device, is
    /// refused as such with no `chmod` advice (which would change what it names).
    #[cfg(unix)]
    #[test]
    fn a_key_that_is_no_regular_file_or_too_large_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        load_or_create(&data, ORIGIN_DEFAULT).unwrap();
        let key = data.join(KEY_FILE);
        std::fs::remove_file(&key).unwrap();
        assert!(std::process::Command::new("mkfifo").arg(&key).status().unwrap().success());
        let (tx, rx) = std::sync::mpsc::channel();
        let at = data.clone();
        std::thread::spawn(move || tx.send(load(&at, ORIGIN_DEFAULT).map(|_| ()).map_err(|e| e.to_string())));
        let refused = rx.recv_timeout(std::time::Duration::from_secs(10)).expect("answered, not blocked").unwrap_err();
        assert!(refused.contains(&key.display().to_string()) && refused.contains("is not a regular file"), "{refused}");
        std::fs::remove_file(&key).unwrap();
        std::os::unix::fs::symlink("/dev/zero", &key).unwrap();
        for refused in [load(&data, ORIGIN_DEFAULT), load_or_create(&data, ORIGIN_DEFAULT)] {
            let refused = refused.unwrap_err().to_string();
            assert!(refused.contains("(a symbolic link)") && !refused.contains("chmod"), "{refused}");
        }
        std::fs::remove_file(&key).unwrap();
        std::fs::File::create(&key).and_then(|f| f.set_len(20 << 30)).unwrap();
        let refused = load(&data, ORIGIN_DEFAULT).unwrap_err().to_string();
        assert!(refused.contains("a log key is at most 4096 bytes"), "{refused}");
    }

    #[test]
    fn a_folder_without_a_key_gets_none_from_load() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("mistyped");
        let e = load(&data, ORIGIN_DEFAULT).unwrap_err();
        assert!(matches!(e, KeyError::Missing { .. }), "{e}");
        assert!(e.to_string().contains("--create"), "{e}");
        assert!(!data.exists(), "no folder is made");
        let (made, _) = load_or_create(&data, ORIGIN_DEFAULT).unwrap();
        let (loaded, _) = load(&data, ORIGIN_DEFAULT).unwrap();
        assert_eq!(made.verifier_key(), loaded.verifier_key());
    }
}
