//! Files only their owner may read: the store's folder, its files, the tokens file.
//!
//! The books hold donors' names and memos of every project, so a store's folder is made
//! [`DIR_MODE`] (0700) and every file in it [`FILE_MODE`] (0600) whatever the umask; a folder or
//! file that group or others may *write* is refused (anyone could replace the books or a token
//! hash), one they may *read* is reported so that the caller can warn. Modes are checked, not access:
//! they are what `ls -l` shows and what an operator fixes with `chmod`.
//!
//! On systems without Unix modes every check passes.

use std::io;
use std::path::Path;

use crate::files::{check_regular, Links};

/// Mode of a store's folder: its owner only.
pub const DIR_MODE: u32 = 0o700;

/// Mode of every file of a store, and of the tokens file: read and write by its owner only.
pub const FILE_MODE: u32 = 0o600;

/// Mode bits that let group or others write.
const OTHERS_WRITE: u32 = 0o022;

/// Mode bits that let group or others read (or list, for a folder).
const OTHERS_READ: u32 = 0o044;

/// Checks the mode of `path` (a folder or a file; `what` names it in messages, such as "data
/// folder"). Returns `Ok(None)` when only its owner may read it, `Ok(Some(warning))` when group or
/// others may read it, and an error of kind `PermissionDenied` naming the `chmod` that fixes it
/// when group or others may write it. A missing path is an error of kind `NotFound`. Anything but
/// a folder or a regular file (a device such as `/dev/zero`, a pipe) is refused as such, before any
/// advice: `chmod` on a device changes the device.
pub fn check(path: &Path, what: &str) -> io::Result<Option<String>> {
    if !std::fs::metadata(path)?.is_dir() {
        check_regular(path, Links::Follow).map_err(|e| named(path, what, e))?;
    }
    check_mode(path, what)
}

/// [`check`] for a path that must be a regular file: the tokens file, a TLS key (links followed),
/// or a file the program keeps, such as the log's key ([`Links::Refuse`]: a link there is refused,
/// and `chmod` advice would reach whatever it names). Anything else is refused as not a regular
/// file, before any advice.
pub fn check_file(path: &Path, what: &str, links: Links) -> io::Result<Option<String>> {
    check_regular(path, links).map_err(|e| named(path, what, e))?;
    check_mode(path, what)
}

/// `e` of `check_regular` with the file named, as the mode's refusal names it: `what path is not a
/// regular file ...` (a missing file stays the operating system's error).
fn named(path: &Path, what: &str, e: io::Error) -> io::Error {
    match e.kind() {
        io::ErrorKind::InvalidInput => io::Error::new(e.kind(), format!("{what} {} {e}", path.display())),
        _ => e,
    }
}

fn check_mode(path: &Path, what: &str) -> io::Result<Option<String>> {
    let mode = mode_of(path)?;
    if mode & OTHERS_WRITE != 0 {
        let fix = if std::fs::metadata(path)?.is_dir() { "700" } else { "600" };
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{what} {} is writable by group or others (mode {:o}); refusing to use it: run `chmod {fix} {}`",
                path.display(),
                mode & 0o7777,
                path.display()
            ),
        ));
    }
    if mode & OTHERS_READ != 0 {
        return Ok(Some(format!(
            "{what} {} is readable by group or others (mode {:o}); `chmod go-rwx {}` keeps it private",
            path.display(),
            mode & 0o7777,
            path.display()
        )));
    }
    Ok(None)
}

/// Creates `dir` (and missing parents) with mode [`DIR_MODE`] when it does not exist, then checks
/// it with [`check`]: an existing folder writable by group or others is refused; one they may read
/// gives the warning back. A path that is there but is no folder (a file, a device) is refused as
/// not a folder.
pub fn create_dir(dir: &Path, what: &str) -> io::Result<Option<String>> {
    // A folder is wanted: a file or a device there is refused as not a folder, never as "not a
    // regular file" with advice to give a file.
    if let Some(kind) = crate::files::not_a_folder(dir) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} {} is {kind}, not a folder: give the path of a folder (a new one is made)", dir.display()),
        ));
    }
    if !dir.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(DIR_MODE);
        }
        builder.create(dir)?;
        // The umask may have taken bits away, never added any; set the mode exactly anyway.
        set_mode(dir, DIR_MODE)?;
    }
    check(dir, what)
}

/// The names of what a store and fiscusd make in a store's folder: sled's `db`, `conf`,
/// `blobs/` and `snap.*`, and `holder`, `synced` (with `synced.new`) and `log.key`.
fn made_by_the_store(name: &std::ffi::OsStr) -> bool {
    let name = name.to_string_lossy();
    matches!(&*name, "db" | "conf" | "blobs" | "holder" | "synced" | "synced.new" | "log.key")
        || name.starts_with("snap.")
}

/// Takes group and others' bits away from what the store made in `dir` ([`made_by_the_store`],
/// and everything in `blobs/`): regular files and folders only, never a link, a device or a pipe,
/// and nothing else in the folder (a `--create` given a folder of other files, `/dev` or a home,
/// changed every one of them). The folder's own mode is left as its owner set it.
pub fn tighten(dir: &Path) -> io::Result<()> {
    tighten_in(dir, 2, true)
}

fn tighten_in(dir: &Path, depth: u32, top: bool) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if !(kind.is_file() || kind.is_dir()) || (top && !made_by_the_store(&entry.file_name())) {
            continue;
        }
        let path = entry.path();
        let mode = mode_of(&path)?;
        let private = mode & !0o077;
        if private != mode {
            set_mode(&path, private)?;
        }
        if kind.is_dir() && depth > 1 {
            tighten_in(&path, depth - 1, false)?;
        }
    }
    Ok(())
}

/// Sets the umask of the whole process to 077, so that every file it creates from now on (sled's
/// snapshots and blobs included) is its owner's only. Returns the previous umask.
#[cfg(all(unix, feature = "store"))]
pub fn private_umask() -> u32 {
    let old = rustix::process::umask(rustix::fs::Mode::from_bits_truncate(0o077));
    old.bits() as u32
}

#[cfg(unix)]
fn mode_of(path: &Path) -> io::Result<u32> {
    use std::os::unix::fs::PermissionsExt;
    Ok(std::fs::metadata(path)?.permissions().mode())
}

#[cfg(not(unix))]
fn mode_of(path: &Path) -> io::Result<u32> {
    std::fs::metadata(path).map(|_| FILE_MODE)
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
    }

    #[test]
    fn folders_are_made_private_and_checked() {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join("a/books");
        assert_eq!(create_dir(&dir, "data folder").expect("created"), None);
        assert_eq!(mode(&dir), 0o700);

        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o750)).expect("chmod");
        let warning = create_dir(&dir, "data folder").expect("readable is a warning").expect("a warning");
        assert!(warning.contains("readable by group or others"), "{warning}");

        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let refused = create_dir(&dir, "data folder").expect_err("writable is refused");
        assert_eq!(refused.kind(), io::ErrorKind::PermissionDenied);
        assert!(refused.to_string().contains("chmod 700"), "{refused}");
    }

    /// A folder to make or use that is a file or a device is refused as not a folder: `/dev/null`
    /// was refused as "not a regular file", with advice to give a regular file.
    #[test]
    fn a_folder_that_is_a_file_or_a_device_is_refused_as_not_a_folder() {
        let root = tempfile::tempdir().expect("temp dir");
        let file = root.path().join("tokens.toml");
        std::fs::write(&file, b"x").expect("write");
        for (path, kind) in [(Path::new("/dev/null"), "a device"), (file.as_path(), "a regular file")] {
            let refused = create_dir(path, "store folder").expect_err("not a folder").to_string();
            let said = format!("store folder {} is {kind}, not a folder: give the path of a folder", path.display());
            assert!(refused.starts_with(&said), "{refused}");
            assert!(!refused.contains("regular file:"), "{refused}");
        }
        assert_eq!(std::fs::read(&file).expect("read"), b"x", "the file is left as it was");
    }

    /// A device (mode 666) or a pipe is refused as not a regular file, never with `chmod` advice
    /// that would change the device; a link to one, as well; a file the program keeps is refused
    /// when it is a link at all, whatever it names.
    #[test]
    fn only_a_regular_file_gets_mode_advice() {
        let root = tempfile::tempdir().expect("temp dir");
        let fifo = root.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
        assert!(made.success());
        let to_zero = root.path().join("witness.key");
        std::os::unix::fs::symlink("/dev/zero", &to_zero).expect("symlink");
        for (path, links) in [
            (Path::new("/dev/zero"), Links::Follow),
            (&fifo, Links::Follow),
            (&to_zero, Links::Follow),
            (&to_zero, Links::Refuse),
        ] {
            let refused = check_file(path, "tokens file", links).expect_err("not a regular file");
            let message = refused.to_string();
            assert!(message.contains("is not a regular file") && !message.contains("chmod"), "{message}");
        }
        let refused = check(Path::new("/dev/zero"), "tokens file").expect_err("a device");
        assert!(refused.to_string().contains("is not a regular file (a device)"), "{refused}");
        let file = root.path().join("file");
        std::fs::write(&file, b"x").expect("write");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        let link = root.path().join("link");
        std::os::unix::fs::symlink(&file, &link).expect("symlink");
        let refused = check_file(&link, "log key", Links::Refuse).expect_err("a link to a file is kept as no file");
        assert!(refused.to_string().contains("(a symbolic link)") && !refused.to_string().contains("chmod"));
        let refused = check_file(&link, "tokens file", Links::Follow).expect_err("writable by others");
        assert!(refused.to_string().contains("chmod 600"), "{refused}");
    }

    #[test]
    fn tighten_takes_group_and_others_bits_away() {
        let root = tempfile::tempdir().expect("temp dir");
        let file = root.path().join("db");
        let sub = root.path().join("blobs");
        std::fs::write(&file, b"x").expect("write");
        std::fs::create_dir(&sub).expect("mkdir");
        std::fs::write(sub.join("1"), b"x").expect("write");
        for p in [&file, &sub.join("1")] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        }
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        // what is not the store's is left as it is
        let other = root.path().join("README");
        std::fs::write(&other, b"x").expect("write");
        std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let fifo = root.path().join("snap.pipe");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo").success());
        std::fs::set_permissions(&fifo, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        tighten(root.path()).expect("tighten");
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&sub), 0o700);
        assert_eq!(mode(&sub.join("1")), 0o600);
        assert_eq!(mode(&other), 0o644, "another's file");
        assert_eq!(mode(&fifo), 0o666, "a pipe");
    }
}
