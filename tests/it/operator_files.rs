//! The files an operator gives `fiscusd` (`--config`, `--tokens`, `--tls-cert`, `--tls-key`) and the
//! files it keeps in its data folder (`log.key`, `holder`, sled's `conf`) are read only when they
//! are regular files, up to a limit of their kind: a named pipe nobody writes to is refused at once
//! (each blocked the daemon for good), as are a device (`/dev/zero` was read until memory ran out,
//! or got `chmod 600 /dev/zero` advice) and a sparse file of 20 GiB (refused from its size). A
//! private key given by mistake as a TOML file is never printed, and a refused start leaves no
//! data folder behind.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::*;

/// How long a refusal may take: each hang this guards against was for good.
const REFUSAL_DEADLINE: Duration = Duration::from_secs(20);

/// `fiscusd` with `args` (on a port picked at run time), run until it exits.
fn fiscusd(args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let mut command = under_umask_022(fiscusd_bin());
    command.args(args).args(["--listen", "127.0.0.1:0"]);
    run_to_exit(command, REFUSAL_DEADLINE)
}

fn mkfifo(path: &Path) {
    let made = Command::new("mkfifo").arg(path).status().expect("mkfifo runs");
    assert!(made.success(), "mkfifo {}", path.display());
}

fn sparse(path: &Path, bytes: u64) {
    std::fs::File::create(path).and_then(|f| f.set_len(bytes)).expect("a sparse file");
}

/// A folder with a tokens file, a pipe, a sparse file of 20 GiB, and a private file holding
/// something (a stand-in for a TLS key or certificate).
struct Files {
    dir: std::sync::Arc<tempfile::TempDir>,
    tokens: PathBuf,
    pipe: PathBuf,
    huge: PathBuf,
    plain: PathBuf,
}

fn files() -> Files {
    let (dir, _) = Daemon::prepare();
    let pipe = dir.path().join("pipe");
    mkfifo(&pipe);
    let huge = dir.path().join("huge");
    sparse(&huge, 20 << 30);
    std::fs::set_permissions(&huge, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod");
    let plain = dir.path().join("plain.pem");
    std::fs::write(&plain, "not PEM\n").expect("write");
    std::fs::set_permissions(&plain, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod");
    Files { tokens: dir.path().join("tokens.toml"), pipe, huge, plain, dir }
}

/// Each operator file given as a named pipe, a device or a sparse file of 20 GiB is refused at
/// once, naming it and what it is; the data folder `--create` would make is not made.
#[test]
fn pipes_devices_and_huge_files_given_to_fiscusd_are_refused_at_once() {
    let f = files();
    let data = f.dir.path().join("new-data");
    let zero = Path::new("/dev/zero");
    let with = |flag: &str, path: &Path| -> Vec<PathBuf> {
        let mut args = vec![PathBuf::from("--data"), data.clone(), "--create".into()];
        if flag != "--tokens" {
            args.extend(["--tokens".into(), f.tokens.clone()]);
        }
        match flag {
            "--tls-cert" => args.extend(["--tls-key".into(), f.plain.clone()]),
            "--tls-key" => args.extend(["--tls-cert".into(), f.plain.clone()]),
            _ => {}
        }
        args.extend([flag.into(), path.to_owned()]);
        args
    };
    let cases: Vec<(&str, &Path, &str)> = vec![
        ("--config", &f.pipe, "is not a regular file (a named pipe)"),
        ("--tls-cert", &f.pipe, "is not a regular file (a named pipe)"),
        ("--tls-key", &f.pipe, "is not a regular file (a named pipe)"),
        ("--tokens", &f.pipe, "is not a regular file (a named pipe)"),
        ("--config", zero, "is not a regular file (a device)"),
        ("--tls-cert", zero, "is not a regular file (a device)"),
        ("--tls-key", zero, "is not a regular file (a device)"),
        ("--tokens", zero, "is not a regular file (a device)"),
        ("--config", &f.huge, "is 21474836480 bytes; a config file is at most 1048576 bytes"),
        ("--tls-cert", &f.huge, "a TLS certificate chain is at most 1048576 bytes"),
        ("--tokens", &f.huge, "a tokens file is at most"),
    ];
    for (flag, path, words) in cases {
        let args = with(flag, path);
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        let (code, err) = fiscusd(&args);
        assert_ne!(code, Some(0), "{flag} {}: {err}", path.display());
        assert!(err.contains(&path.display().to_string()) && err.contains(words), "{flag} {}: {err}", path.display());
        assert!(!err.contains("chmod"), "no mode advice for {flag} {}: {err}", path.display());
        assert!(!data.exists(), "{flag} {}: a refused start made {}", path.display(), data.display());
    }
}

/// A tokens file that cannot be used (missing, or not TOML) refuses the start before `--create`
/// makes the data folder: an empty folder was left behind.
#[test]
fn a_start_refused_for_its_tokens_file_leaves_no_data_folder() {
    let f = files();
    let data = f.dir.path().join("new-data");
    let bad = f.dir.path().join("bad.toml");
    std::fs::write(&bad, "this is not toml\n").expect("write");
    std::fs::set_permissions(&bad, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod");
    for tokens in [f.dir.path().join("missing.toml"), bad] {
        let (code, err) =
            fiscusd(&["--data".as_ref(), data.as_ref(), "--create".as_ref(), "--tokens".as_ref(), tokens.as_ref()]);
        assert_ne!(code, Some(0), "{err}");
        assert!(err.contains(&tokens.display().to_string()), "{err}");
        assert!(!data.exists(), "{}: a refused start made {}", tokens.display(), data.display());
    }
}

/// The log's signing key given by mistake as the config or the tokens file is refused with the
/// line and column of the fault, and its secret is nowhere in what fiscusd or fiscus print (the
/// daemon's log included): toml's message quoted the line.
#[tokio::test]
async fn a_private_key_given_as_a_toml_file_is_not_printed() {
    let d = Daemon::start().await;
    let dir = d.dir.clone();
    let tokens = dir.path().join("tokens.toml");
    assert!(d.stop().success());
    let data = dir.path().join("data");
    let key = data.join("log.key");
    let text = std::fs::read_to_string(&key).expect("the log key");
    let secret = text.trim().splitn(5, '+').nth(4).expect("PRIVATE+KEY+origin+id+key").to_owned();
    assert!(text.starts_with("PRIVATE+KEY+") && secret.len() > 20, "{text}");
    let refusals = [
        fiscusd(&[
            "--data".as_ref(),
            data.as_ref(),
            "--tokens".as_ref(),
            tokens.as_ref(),
            "--config".as_ref(),
            key.as_ref(),
        ]),
        fiscusd(&["--data".as_ref(), data.as_ref(), "--create".as_ref(), "--tokens".as_ref(), key.as_ref()]),
        fiscusd(&[
            "--data".as_ref(),
            data.as_ref(),
            "--log-format".as_ref(),
            "json".as_ref(),
            "--tokens".as_ref(),
            key.as_ref(),
        ]),
        run_to_exit(
            {
                let mut c = Command::new(fiscusd_bin());
                c.args(["token", "add", "--role", "admin", "--name", "x", "--tokens"]).arg(&key);
                c
            },
            REFUSAL_DEADLINE,
        ),
        run_to_exit(
            {
                let mut c = Command::new(crate::cli::fiscus_bin());
                c.args(["token", "add", "--role", "admin", "--name", "x", "--tokens"]).arg(&key);
                c
            },
            REFUSAL_DEADLINE,
        ),
        run_to_exit(
            {
                let mut c = Command::new(fiscusd_bin());
                c.args(["key", "show", "--data"]).arg(&data).arg("--config").arg(&key);
                c
            },
            REFUSAL_DEADLINE,
        ),
    ];
    for (code, err) in refusals {
        assert_ne!(code, Some(0), "{err}");
        assert!(err.contains(&format!("{}: line 1, column ", key.display())), "{err}");
        assert!(!err.contains(&secret) && !err.contains("PRIVATE+KEY"), "the key is printed: {err}");
    }
}

/// A named pipe where fiscusd keeps its log key, its holder file or sled's settings is refused at
/// once naming it (each blocked the start, or `fiscusd key show`, for good); a log key that is a
/// sparse file of 20 GiB is refused from its size, and one that is a link, as not a regular file,
/// without `chmod` advice.
#[tokio::test]
async fn pipes_and_huge_files_in_the_data_folder_are_refused_at_once() {
    let d = Daemon::start().await;
    let dir = d.dir.clone();
    let tokens = dir.path().join("tokens.toml");
    assert!(d.stop().success());
    let data = dir.path().join("data");
    let start = || fiscusd(&["--data".as_ref(), data.as_ref(), "--tokens".as_ref(), tokens.as_ref()]);
    let key_show = || {
        let mut c = Command::new(fiscusd_bin());
        c.args(["key", "show", "--data"]).arg(&data);
        run_to_exit(c, REFUSAL_DEADLINE)
    };
    for name in ["log.key", "holder", "conf"] {
        let path = data.join(name);
        let kept = data.join(format!("{name}.kept"));
        std::fs::rename(&path, &kept).expect("move aside");
        mkfifo(&path);
        let mut refusals = vec![start()];
        if name == "log.key" {
            refusals.push(key_show());
        }
        for (code, err) in refusals {
            assert_ne!(code, Some(0), "{name}: {err}");
            assert!(
                err.contains(&path.display().to_string()) && err.contains("is not a regular file (a named pipe)"),
                "{name}: {err}"
            );
        }
        std::fs::remove_file(&path).expect("remove the pipe");
        std::fs::rename(&kept, &path).expect("put back");
    }
    let key = data.join("log.key");
    let kept = data.join("log.key.kept");
    std::fs::rename(&key, &kept).expect("move aside");
    sparse(&key, 20 << 30);
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod");
    for (code, err) in [start(), key_show()] {
        assert_ne!(code, Some(0), "{err}");
        assert!(err.contains("is 21474836480 bytes; a log key is at most 4096 bytes"), "{err}");
    }
    std::fs::remove_file(&key).expect("remove");
    std::os::unix::fs::symlink("/dev/zero", &key).expect("symlink");
    for (code, err) in [start(), key_show()] {
        assert_ne!(code, Some(0), "{err}");
        assert!(err.contains("is not a regular file (a symbolic link)") && !err.contains("chmod"), "{err}");
    }
    std::fs::remove_file(&key).expect("remove");
    std::fs::rename(&kept, &key).expect("put back");
    let (code, err) = key_show();
    assert_eq!(code, Some(0), "the store's own key is shown again: {err}");
}

/// A start with `--create` refused because its port is taken, and `fiscusd key show --create`
/// refused for its origin, leave no data folder behind: each made an empty one before.
#[test]
fn a_start_refused_for_its_port_or_origin_leaves_no_data_folder() {
    let f = files();
    let data = f.dir.path().join("new-data");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let address = taken.local_addr().expect("its address").to_string();
    let mut command = under_umask_022(fiscusd_bin());
    command.args(["--data".as_ref(), data.as_os_str(), "--create".as_ref(), "--tokens".as_ref(), f.tokens.as_os_str()]);
    command.args(["--listen", &address]);
    let (code, err) = run_to_exit(command, REFUSAL_DEADLINE);
    assert_ne!(code, Some(0), "{err}");
    assert!(err.contains(&format!("cannot listen on {address}")), "{err}");
    assert!(!data.exists(), "a start refused for its port made {}", data.display());
    let mut command = under_umask_022(fiscusd_bin());
    command.args(["key".as_ref(), "show".as_ref(), "--data".as_ref(), data.as_os_str(), "--create".as_ref()]);
    command.args(["--log-origin", "two words"]);
    let (code, err) = run_to_exit(command, REFUSAL_DEADLINE);
    assert_ne!(code, Some(0), "{err}");
    assert!(err.contains("\"two words\" is not a log origin"), "{err}");
    assert!(!data.exists(), "a key refused for its origin made {}", data.display());
}

/// `--data` naming a device or a regular file is refused as not a folder, with or without
/// `--create`: without it, fiscusd said "no store in /dev/null: … give --create".
#[test]
fn a_data_path_that_is_no_folder_is_refused_as_such() {
    let f = files();
    for (data, kind) in [(Path::new("/dev/null"), "a device"), (f.plain.as_path(), "a regular file")] {
        for create in [false, true] {
            let mut args = vec!["--data".as_ref(), data.as_os_str(), "--tokens".as_ref(), f.tokens.as_os_str()];
            if create {
                args.push("--create".as_ref());
            }
            let (code, err) = fiscusd(&args);
            assert_ne!(code, Some(0), "{err}");
            assert!(err.contains(&format!("{} is {kind}, not a folder", data.display())), "{err}");
            assert!(!err.contains("give --create"), "{err}");
        }
    }
}
