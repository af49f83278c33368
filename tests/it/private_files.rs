//! The books are private on disk: under the usual umask 022, `fiscusd` makes its data folder 0700 and
//! every file in it 0600, refuses a data folder or tokens file that group or others may write (naming
//! the `chmod` that fixes it), and warns when they may read one. Tests run as root, so they check
//! modes, not access.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::*;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Every folder under `dir` (itself included) is 0700 and every file 0600.
#[track_caller]
pub fn assert_private_tree(dir: &Path) {
    assert_eq!(mode(dir), 0o700, "{} is {:o}", dir.display(), mode(dir));
    let mut files = 0;
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            assert_private_tree(&path);
        } else {
            files += 1;
            assert_eq!(mode(&path), 0o600, "{} is {:o}", path.display(), mode(&path));
        }
    }
    assert!(files > 0 || dir.file_name().is_some_and(|n| n == "blobs"), "{} holds files", dir.display());
}

#[tokio::test]
async fn the_store_is_private_under_umask_022() {
    let d = Daemon::start().await;
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    open(&mut admin, "conf-a", 500).await;
    let mut memo = contribution("c1", "conf-a", "100.00", None);
    memo.memo = "donor Jane Doe, 12 Main St".into();
    record(&mut admin, vec![memo]).await.expect("recorded");
    assert_private_tree(&d.data());
    let tokens = d.dir.path().join("tokens.toml");
    assert_eq!(mode(&tokens), 0o600);
    let dir = d.dir.clone();
    assert!(d.stop().success());
    // What sled writes on close (snapshots) is private too.
    assert_private_tree(&dir.path().join("data"));
}

#[tokio::test]
async fn a_data_folder_or_tokens_file_others_may_write_is_refused() {
    let d = Daemon::start().await;
    let dir = d.dir.clone();
    assert!(d.stop().success());

    chmod(&dir.path().join("data"), 0o777);
    let (code, err) = refused_start(dir.path());
    assert_ne!(code, Some(0));
    assert!(err.contains("writable by group or others") && err.contains("chmod 700"), "{err}");
    chmod(&dir.path().join("data"), 0o700);

    chmod(&dir.path().join("tokens.toml"), 0o666);
    let (code, err) = refused_start(dir.path());
    assert_ne!(code, Some(0));
    assert!(err.contains("tokens file") && err.contains("chmod 600"), "{err}");
}

#[tokio::test]
async fn a_data_folder_or_tokens_file_others_may_read_is_a_warning() {
    let d = Daemon::start().await;
    let (dir, tokens) = (d.dir.clone(), d.tokens.clone());
    assert!(d.stop().success());
    chmod(&dir.path().join("data"), 0o755);
    chmod(&dir.path().join("tokens.toml"), 0o644);
    let d = Daemon::spawn(dir, tokens, &[]).await;
    let log = d.log();
    assert!(log.contains("data folder") && log.contains("readable by group or others"), "{log}");
    assert!(log.contains("tokens file") && log.contains("chmod go-rwx"), "{log}");
}
