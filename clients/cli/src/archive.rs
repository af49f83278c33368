//! The audit archive (`docs/FORMAT.md` section 10, format 1): everything `fiscus audit` checks,
//! in one file: the raw commit entries, every chain's raw records and every stored checkpoint,
//! exactly as stored. `fiscus archive --out FILE` writes it (atomically, owner-only) from a daemon
//! or a local store; `fiscus audit --archive FILE --pin KEY` checks it offline through
//! [`ArchiveSource`], with the same audit core as online. Also the two other sources: a daemon
//! ([`RemoteSource`]) and a local store ([`StoreSource`]).
//!
//! Layout: the magic line [`ARCHIVE_MAGIC`], then frames `kind u8 ‖ length u32 BE ‖ payload`:
//! one `H` (commit head u64 BE), the `K` checkpoints (size u64 BE ‖ signed note), the `C` commit
//! entries (number u64 BE ‖ stored bytes), the `R` records chain by chain in the order the
//! chains first appear in the commit entries (u8 chain id length ‖ chain id ‖ seq u64 BE ‖
//! stored bytes), and one `E` (the numbers of `K`, `C` and `R` frames, u64 BE each), then the
//! end of the file. A file that stops before its `E` frame is truncated.

use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use fiscus_client::fiscus_ledger::record::{CommitView, RECORD_BYTES_MAX, VALUE_BYTES_MAX};
use fiscus_client::fiscus_ledger::store::{Reader, Store};
use fiscus_client::{project_id, ChainExport, Client, CHECKPOINT_BYTES_MAX};
use indicatif::ProgressBar;

use crate::audit::{Source, PAGE_ITEMS_MAX};
use crate::fail::Failure;

/// The first line of an archive of format 1.
pub const ARCHIVE_MAGIC: &[u8] = b"fiscus-archive 1\n";

/// Most bytes of one frame's payload: a commit entry (the store's bound on a value) and its number.
pub const FRAME_BYTES_MAX: usize = VALUE_BYTES_MAX + 8;

/// Most records listed as held by an archive but listed by no commit entry (the rest are counted).
const UNLISTED_MAX: usize = 1_000;

const HEAD: u8 = b'H';
const CHECKPOINT: u8 = b'K';
const COMMIT: u8 = b'C';
const RECORD: u8 = b'R';
const END: u8 = b'E';

/// What an archive holds, by frame kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Checkpoints.
    pub checkpoints: u64,
    /// Commit entries.
    pub commits: u64,
    /// Records.
    pub records: u64,
}

fn io(path: &Path, e: impl std::fmt::Display) -> Failure {
    Failure::other(format!("{}: {e}", path.display()))
}

/// Writes the archive of `src` (up to the head it states) to `path`: a temporary file (0600) in
/// the same folder, synced, then renamed over `path`, so that a crash leaves no file or the
/// whole one.
pub async fn write<S: Source>(src: &mut S, path: &Path, bar: &ProgressBar) -> Result<Counts, Failure> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| io(dir, e))?;
    let mut out = BufWriter::new(tmp);
    let mut counts = Counts::default();
    let frame = |out: &mut BufWriter<tempfile::NamedTempFile>, kind: u8, parts: &[&[u8]]| {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let len = u32::try_from(len).map_err(|_| std::io::Error::other("a frame over 4 GiB"))?;
        out.write_all(&[kind])?;
        out.write_all(&len.to_be_bytes())?;
        for p in parts {
            out.write_all(p)?;
        }
        Ok::<(), std::io::Error>(())
    };
    out.write_all(ARCHIVE_MAGIC).map_err(|e| io(path, e))?;
    let head = src.head().await?;
    frame(&mut out, HEAD, &[&head.to_be_bytes()]).map_err(|e| io(path, e))?;
    bar.set_message("archiving checkpoints");
    let mut from = 1;
    while from <= head {
        let page = src.checkpoints(from, head).await?;
        let Some(&(last, _)) = page.last() else { break };
        for (size, text) in &page {
            frame(&mut out, CHECKPOINT, &[&size.to_be_bytes(), text.as_bytes()]).map_err(|e| io(path, e))?;
            counts.checkpoints += 1;
        }
        from = last.saturating_add(1);
    }
    bar.set_message("archiving commit entries");
    bar.set_length(head);
    let mut chains: Vec<(String, u64)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut next = 1;
    while next <= head {
        let page = src.commit_entries(next, head).await?;
        if page.is_empty() {
            break;
        }
        for (number, bytes) in &page {
            frame(&mut out, COMMIT, &[&number.to_be_bytes(), bytes]).map_err(|e| io(path, e))?;
            counts.commits += 1;
            // the chains and their lengths as the entries list them (an entry that does not
            // decode is archived as it is, for the audit to report)
            if let Ok(view) = CommitView::decode(bytes) {
                for r in &view.records {
                    let at = *index.entry(r.project.to_owned()).or_insert_with(|| {
                        chains.push((r.project.to_owned(), 0));
                        chains.len() - 1
                    });
                    if let Some(chain) = chains.get_mut(at) {
                        chain.1 = chain.1.max(r.seq);
                    }
                }
            }
            next = number.saturating_add(1);
            bar.inc(1);
        }
    }
    bar.set_message("archiving chains");
    bar.set_length(chains.iter().map(|(_, n)| *n).sum());
    bar.set_position(0);
    for (chain, last) in &chains {
        let id = u8::try_from(chain.len()).map_err(|_| Failure::other(format!("chain id {chain:?} is too long")))?;
        let mut seq = 1;
        while seq <= *last {
            let page = src.records(chain, seq, *last).await?;
            if page.is_empty() {
                break;
            }
            for bytes in &page {
                frame(&mut out, RECORD, &[&[id], chain.as_bytes(), &seq.to_be_bytes(), bytes])
                    .map_err(|e| io(path, e))?;
                counts.records += 1;
                seq += 1;
                bar.inc(1);
            }
        }
    }
    let end = [counts.checkpoints.to_be_bytes(), counts.commits.to_be_bytes(), counts.records.to_be_bytes()].concat();
    frame(&mut out, END, &[&end]).map_err(|e| io(path, e))?;
    let tmp = out.into_inner().map_err(|e| io(path, e.error()))?;
    tmp.as_file().sync_all().map_err(|e| io(path, e))?;
    tmp.persist(path).map_err(|e| io(path, e.error))?;
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io(dir, e))?;
    bar.finish_and_clear();
    Ok(counts)
}

/// One frame read back.
struct Frame {
    kind: u8,
    payload: Vec<u8>,
}

/// An archive read in order, as an audit [`Source`]: the audit core asks for checkpoints, commit
/// entries, then chains in the order they first appear in the entries, which is the order the
/// archive holds them in.
pub struct ArchiveSource {
    path: std::path::PathBuf,
    file: BufReader<std::fs::File>,
    peeked: Option<Frame>,
    read: Counts,
}

impl ArchiveSource {
    /// Opens `path` and checks its magic line.
    pub fn open(path: &Path) -> Result<ArchiveSource, Failure> {
        let file = std::fs::File::open(path).map_err(|e| io(path, e))?;
        let mut file = BufReader::new(file);
        let mut magic = vec![0u8; ARCHIVE_MAGIC.len()];
        file.read_exact(&mut magic).map_err(|_| io(path, "not a Fiscus archive (too short)"))?;
        if magic != ARCHIVE_MAGIC {
            return Err(io(path, "not a Fiscus archive of format 1 (its first line is not `fiscus-archive 1`)"));
        }
        Ok(ArchiveSource { path: path.to_owned(), file, peeked: None, read: Counts::default() })
    }

    fn truncated(&self) -> Failure {
        io(&self.path, "the archive is truncated: it ends before its end frame")
    }

    /// The next frame (peeked or read), checked against [`FRAME_BYTES_MAX`].
    fn next_frame(&mut self) -> Result<Frame, Failure> {
        if let Some(f) = self.peeked.take() {
            return Ok(f);
        }
        let mut header = [0u8; 5];
        self.file.read_exact(&mut header).map_err(|_| self.truncated())?;
        let [kind, l0, l1, l2, l3] = header;
        let len = u32::from_be_bytes([l0, l1, l2, l3]) as usize;
        if len > FRAME_BYTES_MAX {
            return Err(io(&self.path, format!("a frame of {len} bytes, over {FRAME_BYTES_MAX}")));
        }
        let mut payload = vec![0u8; len];
        self.file.read_exact(&mut payload).map_err(|_| self.truncated())?;
        Ok(Frame { kind, payload })
    }

    fn peek_kind(&mut self) -> Result<u8, Failure> {
        let f = self.next_frame()?;
        let kind = f.kind;
        self.peeked = Some(f);
        Ok(kind)
    }

    fn malformed(&self, what: &str) -> Failure {
        io(&self.path, format!("malformed archive: {what}"))
    }
}

/// Splits a leading u64 BE off `bytes`.
fn number(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let (n, rest) = bytes.split_first_chunk::<8>()?;
    Some((u64::from_be_bytes(*n), rest))
}

/// A record frame's chain, seq and bytes.
fn record_frame(payload: &[u8]) -> Option<(&str, u64, &[u8])> {
    let (len, rest) = payload.split_first()?;
    let chain = std::str::from_utf8(rest.get(..usize::from(*len))?).ok()?;
    let (seq, bytes) = number(rest.get(usize::from(*len)..)?)?;
    Some((chain, seq, bytes))
}

impl Source for ArchiveSource {
    async fn head(&mut self) -> Result<u64, Failure> {
        let f = self.next_frame()?;
        match (f.kind, number(&f.payload)) {
            (HEAD, Some((head, []))) => Ok(head),
            _ => Err(self.malformed("it does not start with its head frame")),
        }
    }

    async fn checkpoints(&mut self, _from: u64, _head: u64) -> Result<Vec<(u64, String)>, Failure> {
        let mut page = Vec::new();
        while page.len() < PAGE_ITEMS_MAX && self.peek_kind()? == CHECKPOINT {
            let f = self.next_frame()?;
            let (size, text) = number(&f.payload).ok_or_else(|| self.malformed("a short checkpoint frame"))?;
            if text.len() > CHECKPOINT_BYTES_MAX {
                return Err(self.malformed("a checkpoint over its size limit"));
            }
            let text = std::str::from_utf8(text).map_err(|_| self.malformed("a checkpoint is not UTF-8"))?;
            page.push((size, text.to_owned()));
            self.read.checkpoints += 1;
        }
        Ok(page)
    }

    async fn commit_entries(&mut self, _from: u64, _head: u64) -> Result<Vec<(u64, Vec<u8>)>, Failure> {
        let mut page = Vec::new();
        while page.len() < PAGE_ITEMS_MAX && self.peek_kind()? == COMMIT {
            let f = self.next_frame()?;
            let (n, bytes) = number(&f.payload).ok_or_else(|| self.malformed("a short commit frame"))?;
            page.push((n, bytes.to_vec()));
            self.read.commits += 1;
        }
        Ok(page)
    }

    async fn records(&mut self, chain: &str, _from: u64, last: u64) -> Result<Vec<Vec<u8>>, Failure> {
        let mut page = Vec::new();
        while page.len() < PAGE_ITEMS_MAX && self.peek_kind()? == RECORD {
            let f = self.next_frame()?;
            let (of, seq, bytes) = record_frame(&f.payload).ok_or_else(|| self.malformed("a short record frame"))?;
            if of != chain || seq > last {
                self.peeked = Some(f);
                break;
            }
            if bytes.len() > RECORD_BYTES_MAX {
                return Err(self.malformed("a record over its size limit"));
            }
            page.push(bytes.to_vec());
            self.read.records += 1;
        }
        Ok(page)
    }

    async fn finish(&mut self) -> Result<Vec<(String, u64)>, Failure> {
        let mut unlisted = Vec::new();
        loop {
            let f = self.next_frame()?;
            match f.kind {
                RECORD => {
                    let (chain, seq, _) =
                        record_frame(&f.payload).ok_or_else(|| self.malformed("a short record frame"))?;
                    if unlisted.len() < UNLISTED_MAX {
                        unlisted.push((chain.to_owned(), seq));
                    }
                    self.read.records += 1;
                }
                END => {
                    let count = |i: usize| {
                        f.payload
                            .get(i * 8..i * 8 + 8)
                            .and_then(|b| <[u8; 8]>::try_from(b).ok())
                            .map(u64::from_be_bytes)
                    };
                    let stated = match (f.payload.len(), count(0), count(1), count(2)) {
                        (24, Some(checkpoints), Some(commits), Some(records)) => {
                            Some(Counts { checkpoints, commits, records })
                        }
                        _ => None,
                    }
                    .ok_or_else(|| self.malformed("a short end frame"))?;
                    if stated != self.read {
                        return Err(io(
                            &self.path,
                            format!(
                                "the archive is damaged: its end frame counts {stated:?}, but it holds {:?}",
                                self.read
                            ),
                        ));
                    }
                    let mut rest = [0u8; 1];
                    if self.file.read(&mut rest).map_err(|e| io(&self.path, e))? != 0 {
                        return Err(self.malformed("bytes after the end frame"));
                    }
                    return Ok(unlisted);
                }
                _ => return Err(self.malformed("a checkpoint or commit frame after the records")),
            }
        }
    }
}

/// A daemon, read through the Audit RPCs (`ListCheckpoints`, `ListCommitEntries`, `ExportChain`).
pub struct RemoteSource<'c> {
    client: &'c Client,
    /// The chain being exported, its stream and the seq it gives next.
    export: Option<(String, ChainExport, u64)>,
}

impl<'c> RemoteSource<'c> {
    /// Reads from `client`.
    pub fn new(client: &'c Client) -> RemoteSource<'c> {
        RemoteSource { client, export: None }
    }
}

const REMOTE_PAGE: u32 = PAGE_ITEMS_MAX as u32;

impl Source for RemoteSource<'_> {
    async fn head(&mut self) -> Result<u64, Failure> {
        // The commit head of one snapshot: every entry and record up to it is readable, and
        // every checkpoint up to it was published before it (the log of a group is published
        // before its projection), so a later checkpoint page reaches it.
        let (commit_head, _) = self.client.commit_entries(1, 1).await?;
        Ok(commit_head)
    }

    async fn checkpoints(&mut self, from: u64, head: u64) -> Result<Vec<(u64, String)>, Failure> {
        let (_, mut page) = self.client.checkpoints_page(from, REMOTE_PAGE).await?;
        page.retain(|(size, _)| *size <= head);
        Ok(page)
    }

    async fn commit_entries(&mut self, from: u64, head: u64) -> Result<Vec<(u64, Vec<u8>)>, Failure> {
        let (_, mut page) = self.client.commit_entries(from, REMOTE_PAGE).await?;
        page.retain(|(n, _)| *n <= head);
        Ok(page)
    }

    async fn records(&mut self, chain: &str, from: u64, last: u64) -> Result<Vec<Vec<u8>>, Failure> {
        let fresh = !matches!(&self.export, Some((c, _, next)) if c == chain && *next == from);
        if fresh {
            let id = project_id(chain)?;
            let stream = self.client.export_chain_stream(&id, from).await?;
            self.export = Some((chain.to_owned(), stream, from));
        }
        let Some((_, stream, next)) = self.export.as_mut() else { return Ok(Vec::new()) };
        let mut page = Vec::new();
        if let Some(batch) = stream.next_batch().await? {
            for r in batch {
                if r.seq != *next {
                    return Err(Failure::other(format!(
                        "the server sent {chain} seq {} where seq {} was due",
                        r.seq, *next
                    )));
                }
                if r.seq > last {
                    break;
                }
                page.push(r.bytes);
                *next += 1;
            }
        }
        Ok(page)
    }

    async fn finish(&mut self) -> Result<Vec<(String, u64)>, Failure> {
        self.export = None;
        Ok(Vec::new())
    }
}

/// A local store, read as it is stored (whatever its replay found).
pub struct StoreSource {
    reader: Reader,
    head: u64,
}

impl StoreSource {
    /// Reads `store` up to its commit head.
    pub fn new(store: &Store) -> StoreSource {
        StoreSource { reader: store.reader(), head: store.projection().commit_head.number }
    }
}

impl Source for StoreSource {
    async fn head(&mut self) -> Result<u64, Failure> {
        Ok(self.head)
    }

    async fn checkpoints(&mut self, from: u64, head: u64) -> Result<Vec<(u64, String)>, Failure> {
        Ok(self.reader.checkpoints(from, head, PAGE_ITEMS_MAX)?)
    }

    async fn commit_entries(&mut self, from: u64, head: u64) -> Result<Vec<(u64, Vec<u8>)>, Failure> {
        Ok(self.reader.raw_commits(from.saturating_sub(1), head, PAGE_ITEMS_MAX)?)
    }

    async fn records(&mut self, chain: &str, from: u64, last: u64) -> Result<Vec<Vec<u8>>, Failure> {
        Ok(self.reader.raw_records(chain, from, last, PAGE_ITEMS_MAX)?.into_iter().map(|r| r.bytes).collect())
    }

    async fn finish(&mut self) -> Result<Vec<(String, u64)>, Failure> {
        Ok(Vec::new())
    }
}
