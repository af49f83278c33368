//! Files the client writes for its user (the `--state` file of a pinned verification; the command
//! line's exports, receipts and bundles): each is a new file renamed into place, so only a regular
//! file, or nothing, may be at the path.

use std::path::Path;

/// Refuses a `path` that names anything but a regular file or nothing, or that is in a store's
/// folder (`InvalidInput`, saying what it names): the file written there is put in place by a
/// rename, which would replace a symbolic link, a device, a pipe, a folder (as root, `-o
/// /dev/null` replaced the machine's `/dev/null`) or a store's own file.
pub fn refuse_unless_file(path: &Path) -> std::io::Result<()> {
    let refuse = |what: &str| {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("is {what}, not a regular file: give the path of a file to write (it is replaced whole)"),
        ))
    };
    if path == Path::new("-") {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "is `-`: this command writes a file, not standard output; give its path",
        ));
    }
    // No store's folder, nor a folder in one (sled's `conf` and `db` beside each other: a daemon's
    // data folder or a `--store`), holds a file a command makes: `archive --out DATA/db` replaced a
    // running daemon's store file, and its books were gone at its next start. The folder is taken
    // as it resolves (through `..` and links).
    let folder = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(folder) = folder.canonicalize() {
        if let Some(store) = folder.ancestors().find(|d| d.join("conf").is_file() && d.join("db").is_file()) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "is in {}, which holds a store: a file written there could replace the store's own; write \
                     it elsewhere",
                    store.display()
                ),
            ));
        }
    }
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(m) if m.file_type().is_symlink() => refuse("a symbolic link"),
        Ok(m) if m.is_dir() => refuse("a folder"),
        Ok(m) if !m.is_file() => refuse("a device, a pipe or a socket"),
        Ok(_) => Ok(()),
    }
}
