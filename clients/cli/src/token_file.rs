//! Keeping bearer tokens off the command line and off the network in plaintext: `--token-file`
//! (`FISCUS_TOKEN_FILE`) reads the token from a file only its owner may read, and a token is sent
//! over plaintext `http://` only to this machine (a loopback address or `localhost`) unless
//! `--allow-plaintext` says otherwise.

use std::net::IpAddr;
use std::path::Path;

use crate::fail::Failure;

/// Most bytes of a token file (a token is one short line).
pub const TOKEN_FILE_BYTES_MAX: u64 = 4096;

/// The token in `path`: its first line, trimmed. Refused when group or others may read the file
/// (or write it), or when it holds no token.
pub fn read(path: &Path) -> Result<String, Failure> {
    let shown = path.display();
    #[cfg(unix)]
    {
        use std::os::unix::fs::{FileTypeExt, PermissionsExt};
        let meta = std::fs::metadata(path).map_err(|e| Failure::usage(format!("--token-file {shown}: {e}")))?;
        // a pipe is what a shell's `<(pass show fiscus)` gives: the token never touches a disk
        if !meta.is_file() && !meta.file_type().is_fifo() {
            return Err(Failure::usage(format!(
                "--token-file {shown}: not a regular file or a pipe (a token file holds the token, made private \
                 with `chmod 600`)"
            )));
        }
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(Failure::usage(format!(
                "--token-file {shown}: group or others may read it (mode {:o}); run `chmod 600 {shown}`",
                mode & 0o7777
            )));
        }
    }
    let text = read_within(path, PIPE_WAIT)?
        .map_err(|e| Failure::usage(format!("--token-file {}", e.message(&shown.to_string(), "token file"))))?;
    let token = text.lines().next().unwrap_or_default().trim();
    if fiscus_tlog::is_signer_key(token) {
        // never sent: a bearer token goes to the server
        return Err(Failure::usage(format!(
            "--token-file {shown}: the file holds a private signing key (PRIVATE+KEY+...), not a token; it is not \
             sent (keep it secret)"
        )));
    }
    if token.is_empty() {
        return Err(Failure::usage(format!("--token-file {shown}: the file holds no token")));
    }
    Ok(token.to_owned())
}

// how long a token file is waited for (a pipe's opening and its one line)
use crate::files::PIPE_WAIT;

/// Reads the token file on a thread of its own, waiting at most `wait` for it.
fn read_within(path: &Path, wait: std::time::Duration) -> Result<Result<String, crate::files::FileError>, Failure> {
    let (tx, rx) = std::sync::mpsc::channel();
    let owned = path.to_owned();
    // (a thread blocked opening a pipe without a writer ends with the process)
    std::thread::spawn(move || {
        let _ = tx.send(crate::files::read_text(&owned, TOKEN_FILE_BYTES_MAX));
    });
    rx.recv_timeout(wait).map_err(|_| {
        Failure::usage(format!(
            "--token-file {}: nothing came to read within {} s (a named pipe nobody writes to?)",
            path.display(),
            wait.as_secs()
        ))
    })
}

/// Refuses `url` when it is plaintext `http://` to a host other than this machine.
pub fn refuse_plaintext(url: &str) -> Result<(), Failure> {
    let Some(rest) = url.strip_prefix("http://") else { return Ok(()) };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or(v6, |(h, _)| h),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    if is_loopback(host) {
        return Ok(());
    }
    Err(Failure::usage(format!(
        "refusing to send a bearer token over plaintext http:// to {host}: anyone on the way can read it; use \
         https:// (fiscusd --tls-cert/--tls-key), or give --allow-plaintext if the network is yours alone"
    )))
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_goes_only_to_this_machine() {
        for ok in [
            "http://127.0.0.1:7878",
            "http://localhost:7878/",
            "http://[::1]:7878",
            "http://127.9.9.9",
            "https://books.example.org",
        ] {
            assert!(refuse_plaintext(ok).is_ok(), "{ok}");
        }
        for refused in [
            "http://books.example.org:7878",
            "http://10.0.0.5:7878",
            "http://[2001:db8::1]:7878",
            "http://127.0.0.1.evil.example",
        ] {
            assert!(refuse_plaintext(refused).is_err(), "{refused}");
        }
    }

    /// A signing key's file given as the token file (both are owner-only) is refused by name, and
    /// neither sent nor shown.
    #[cfg(unix)]
    #[test]
    fn a_signing_key_is_no_token() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("log.key");
        std::fs::write(&path, "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz\n")
            .expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let said = read(&path).expect_err("a signing key").to_string();
        assert!(said.contains("private signing key") && !said.contains("AYEK"), "{said}");
    }

    #[cfg(unix)]
    #[test]
    fn a_token_file_others_may_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("token");
        std::fs::write(&path, "fiscus_abc\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(read(&path).expect("read"), "fiscus_abc");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(read(&path).is_err());
    }

    /// A pipe, as `--token-file <(command)` gives, is read; one others may read is refused; a
    /// directory is refused as neither a file nor a pipe.
    #[cfg(unix)]
    #[test]
    fn a_token_is_read_from_a_private_pipe() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo").arg("-m").arg("600").arg(&path).status().expect("mkfifo runs");
        assert!(made.success());
        let writer = {
            let path = path.clone();
            std::thread::spawn(move || std::fs::write(path, "fiscus_from_a_pipe\n"))
        };
        assert_eq!(read(&path).expect("read"), "fiscus_from_a_pipe");
        writer.join().expect("writer ends").expect("written");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let refused = read(&path).expect_err("others may read it").to_string();
        assert!(refused.contains("group or others may read it"), "{refused}");
        let folder = read(dir.path()).expect_err("a folder").to_string();
        assert!(folder.contains("not a regular file or a pipe"), "{folder}");
        // a pipe nobody writes to is waited for, not for good
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let started = std::time::Instant::now();
        let waited = read_within(&path, std::time::Duration::from_millis(300)).expect_err("no writer").to_string();
        assert!(waited.contains("nothing came to read within"), "{waited}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
