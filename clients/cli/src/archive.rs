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
use std::sync::mpsc::{sync_channel, Receiver};

use fiscus_client::fiscus_ledger::record::{CommitView, RECORD_BYTES_MAX, VALUE_BYTES_MAX};
use fiscus_client::fiscus_ledger::store::{Reader, Store};
use fiscus_client::fiscus_ledger::LedgerError;
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

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} checkpoints, {} commits and {} records", self.checkpoints, self.commits, self.records)
    }
}

fn io(path: &Path, e: impl std::fmt::Display) -> Failure {
    Failure::other(format!("{}: {e}", path.display()))
}

/// Writes the archive of `src` (up to the head it states) to `path`: a temporary file (0600) in
/// the same folder, synced, then renamed over `path`, so that a crash leaves no file or the
/// whole one.
pub async fn write<S: Source>(src: &mut S, path: &Path, bar: &ProgressBar) -> Result<Counts, Failure> {
    // the rename at the end would replace a link, a pipe or a device at the path
    crate::files::refuse_unless_file(path).map_err(|e| io(path, e))?;
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

/// What the reading thread of an archive hands over, in file order.
enum FrameRead {
    /// The next frame.
    Frame(Frame),
    /// After the end frame: whether the file holds more bytes, or why that could not be read.
    Rest(Result<bool, String>),
    /// The file ends inside a frame, or before its end frame.
    Truncated,
    /// A frame whose length is over [`FRAME_BYTES_MAX`].
    Oversized(usize),
}

/// Frames the reading thread of an archive hands over at a time: at most this many, and no more
/// once they hold [`FRAME_BATCH_BYTES`].
const FRAME_BATCH_ITEMS: usize = 256;

/// Payload bytes after which a batch of frames is handed over.
const FRAME_BATCH_BYTES: usize = 1 << 20;

/// Batches of frames read ahead (the reading thread waits when they are all waiting): at most
/// 4 + 2 batches are in memory at once, each under [`FRAME_BATCH_BYTES`] + [`FRAME_BYTES_MAX`].
const FRAME_BATCHES_AHEAD: usize = 4;

/// Reads the frames of `file` (after its magic line) in order and hands them to `send` in
/// batches, up to the end frame and the check for bytes after it, or the first fault; stops when
/// `send` answers false (nothing more will be read).
fn read_frames(mut file: BufReader<std::fs::File>, send: impl Fn(Vec<FrameRead>) -> bool) {
    let mut batch = Vec::new();
    let mut bytes = 0;
    loop {
        let mut header = [0u8; 5];
        let read = match file.read_exact(&mut header) {
            Err(_) => FrameRead::Truncated,
            Ok(()) => {
                let [kind, l0, l1, l2, l3] = header;
                let len = u32::from_be_bytes([l0, l1, l2, l3]) as usize;
                if len > FRAME_BYTES_MAX {
                    FrameRead::Oversized(len)
                } else {
                    let mut payload = vec![0u8; len];
                    match file.read_exact(&mut payload) {
                        Ok(()) => FrameRead::Frame(Frame { kind, payload }),
                        Err(_) => FrameRead::Truncated,
                    }
                }
            }
        };
        let done = match &read {
            FrameRead::Frame(f) => {
                bytes += f.payload.len();
                f.kind == END
            }
            _ => true,
        };
        batch.push(read);
        if let Some(FrameRead::Frame(Frame { kind: END, .. })) = batch.last() {
            let mut rest = [0u8; 1];
            batch.push(FrameRead::Rest(file.read(&mut rest).map(|n| n != 0).map_err(|e| e.to_string())));
        }
        if done || batch.len() >= FRAME_BATCH_ITEMS || bytes >= FRAME_BATCH_BYTES {
            if !send(std::mem::take(&mut batch)) || done {
                return;
            }
            bytes = 0;
        }
    }
}

/// An archive read in order, as an audit [`Source`]: the audit core asks for checkpoints, commit
/// entries, then chains in the order they first appear in the entries, which is the order the
/// archive holds them in. The file is read on a thread of its own, a few batches of frames ahead
/// of the audit's checks.
pub struct ArchiveSource {
    path: std::path::PathBuf,
    /// The reading thread's batches, and the batch being taken from.
    frames: Option<Receiver<Vec<FrameRead>>>,
    batch: std::collections::VecDeque<FrameRead>,
    thread: Option<std::thread::JoinHandle<()>>,
    peeked: Option<Frame>,
    read: Counts,
}

impl Drop for ArchiveSource {
    fn drop(&mut self) {
        drop(self.frames.take());
        if let Some(thread) = self.thread.take() {
            // the reading thread ends at its next hand-over at the latest
            let _ = thread.join();
        }
    }
}

impl ArchiveSource {
    /// Opens `path`, checks its magic line and starts reading its frames.
    pub fn open(path: &Path) -> Result<ArchiveSource, Failure> {
        let file = crate::files::open_within(path, u64::MAX)
            .map_err(|e| Failure::other(e.message(&path.display().to_string(), "archive")))?;
        if file.metadata().is_ok_and(|m| m.is_dir()) {
            return Err(io(path, "is a folder, not an archive (a store's folder is read with --store DIR)"));
        }
        let mut file = BufReader::new(file);
        let mut magic = vec![0u8; ARCHIVE_MAGIC.len()];
        file.read_exact(&mut magic).map_err(|_| io(path, "not a Fiscus archive (too short)"))?;
        if magic != ARCHIVE_MAGIC {
            return Err(io(path, "not a Fiscus archive of format 1 (its first line is not `fiscus-archive 1`)"));
        }
        let (tx, rx) = sync_channel(FRAME_BATCHES_AHEAD);
        let thread = std::thread::spawn(move || read_frames(file, |batch| tx.send(batch).is_ok()));
        Ok(ArchiveSource {
            path: path.to_owned(),
            frames: Some(rx),
            batch: std::collections::VecDeque::new(),
            thread: Some(thread),
            peeked: None,
            read: Counts::default(),
        })
    }

    fn truncated(&self) -> Failure {
        io(&self.path, "the archive is truncated: it ends before its end frame")
    }

    /// The next item the reading thread read; `None` past what it reads (after a fault or the end
    /// frame's check, which end the audit).
    fn next_read(&mut self) -> Option<FrameRead> {
        if self.batch.is_empty() {
            self.batch = self.frames.as_ref()?.recv().ok()?.into();
        }
        self.batch.pop_front()
    }

    /// The next frame (peeked or read), checked against [`FRAME_BYTES_MAX`].
    fn next_frame(&mut self) -> Result<Frame, Failure> {
        if let Some(f) = self.peeked.take() {
            return Ok(f);
        }
        match self.next_read() {
            Some(FrameRead::Frame(f)) => Ok(f),
            Some(FrameRead::Oversized(len)) => {
                Err(io(&self.path, format!("a frame of {len} bytes, over {FRAME_BYTES_MAX}")))
            }
            Some(FrameRead::Truncated | FrameRead::Rest(_)) | None => Err(self.truncated()),
        }
    }

    /// Whether the file holds bytes after the end frame just read.
    fn more_after_end(&mut self) -> Result<bool, Failure> {
        match self.next_read() {
            Some(FrameRead::Rest(rest)) => rest.map_err(|e| io(&self.path, e)),
            _ => Err(self.malformed("bytes after the end frame")),
        }
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

    async fn records(&mut self, chain: &str, from: u64, last: u64) -> Result<Vec<Vec<u8>>, Failure> {
        let mut page = Vec::new();
        while page.len() < PAGE_ITEMS_MAX && self.peek_kind()? == RECORD {
            let f = self.next_frame()?;
            let (of, seq, bytes) = record_frame(&f.payload).ok_or_else(|| self.malformed("a short record frame"))?;
            let due = from.saturating_add(page.len() as u64);
            // another chain's frames, or this chain's past what the entries list (`finish` names
            // them), come after this chain's
            if of != chain || (seq > last && seq == due) {
                self.peeked = Some(f);
                break;
            }
            // a frame's label is the record's place: one out of place (a record twice, one
            // missing, a label over another record) is a fault of the archive, not of the ledger
            if seq != due {
                return Err(
                    self.malformed(&format!("a record frame of {chain} labelled seq {seq} where seq {due} was due"))
                );
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
                                "the archive is damaged: its end frame counts {stated}, but it holds {}",
                                self.read
                            ),
                        ));
                    }
                    if self.more_after_end()? {
                        return Err(self.malformed("bytes after the end frame"));
                    }
                    return Ok(unlisted);
                }
                CHECKPOINT | COMMIT => return Err(self.malformed("a checkpoint or commit frame after the records")),
                HEAD => return Err(self.malformed("a second head frame")),
                other => return Err(self.malformed(&format!("a frame of unknown kind 0x{other:02x}"))),
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

/// Items a local store source reads per page: whole sealed chunks (32 records, 64 commit
/// entries; `fiscus_ledger::store::CHUNK_RECORDS`, `CHUNK_COMMITS`), so that no chunk is unpacked
/// twice, and within [`PAGE_ITEMS_MAX`].
const STORE_PAGE_ITEMS: usize = 960;

/// Pages a local store source keeps read ahead (the reading thread waits when they are all
/// waiting): at most 4 + 2 pages of [`STORE_PAGE_ITEMS`] items are in memory at once (those
/// queued, the one being read, the one being checked), under 6 × 960 × 64 KiB
/// (`RECORD_BYTES_MAX`) for records and 6 × 16 MiB for commit entries.
const READ_AHEAD_PAGES: usize = 4;

/// A page a reading thread read: where it starts (a commit number, or a chain and a seq) and its
/// items, or why it could not be read.
type AheadPage<K, T> = (K, Result<Vec<T>, LedgerError>);

/// A thread reading pages ahead of their use, through a bounded channel, so that reading sled
/// and unpacking chunks overlaps with the audit's checks (as replay's reading stage overlaps its
/// fold). Dropping it stops the thread: its next send fails, and it is joined.
struct ReadAhead<K, T> {
    pages: Option<Receiver<AheadPage<K, T>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl<K: PartialEq + Send + 'static, T: Send + 'static> ReadAhead<K, T> {
    /// Starts `read`, which hands each page to its argument in order, and stops when that answers
    /// false (the page will not be used).
    fn spawn(read: impl FnOnce(&mut dyn FnMut(AheadPage<K, T>) -> bool) + Send + 'static) -> ReadAhead<K, T> {
        let (tx, rx) = sync_channel::<AheadPage<K, T>>(READ_AHEAD_PAGES);
        let thread = std::thread::spawn(move || read(&mut |page| tx.send(page).is_ok()));
        ReadAhead { pages: Some(rx), thread: Some(thread) }
    }

    /// The next page read ahead, if it starts at `at`; `None` when it starts elsewhere (the
    /// audit skipped the rest of a chain) or the thread read everything it had to.
    fn take(&mut self, at: &K) -> Option<Result<Vec<T>, LedgerError>> {
        match self.pages.as_ref()?.recv() {
            Ok((from, page)) if from == *at => Some(page),
            _ => None,
        }
    }
}

impl<K, T> Drop for ReadAhead<K, T> {
    fn drop(&mut self) {
        drop(self.pages.take());
        if let Some(thread) = self.thread.take() {
            // a reading thread only reads and sends: it ends at its next send at the latest
            let _ = thread.join();
        }
    }
}

/// A local store, read as it is stored (whatever its replay found). Commit entries, and records
/// once the audit has said which chains it reads ([`Source::plan`]), are read ahead on a thread
/// of their own.
pub struct StoreSource {
    reader: Reader,
    head: u64,
    commits: Option<ReadAhead<u64, (u64, Vec<u8>)>>,
    /// The chains to read and their last seqs, in the audit's order.
    plan: std::sync::Arc<[(String, u64)]>,
    records: Option<ReadAhead<(String, u64), Vec<u8>>>,
    /// Items per page ([`STORE_PAGE_ITEMS`]).
    page: usize,
}

impl StoreSource {
    /// Reads `store` up to its commit head.
    pub fn new(store: &Store) -> StoreSource {
        StoreSource {
            reader: store.reader(),
            head: store.projection().commit_head.number,
            commits: None,
            plan: std::sync::Arc::from(Vec::new()),
            records: None,
            page: STORE_PAGE_ITEMS,
        }
    }

    /// Reads commit entries `from ..= head` ahead, page after page.
    fn commits_ahead(&self, from: u64, head: u64) -> ReadAhead<u64, (u64, Vec<u8>)> {
        let (reader, items) = (self.reader.clone(), self.page);
        ReadAhead::spawn(move |send| {
            let mut from = from;
            while from <= head {
                let page = reader.raw_commits(from - 1, head, items);
                let next = match &page {
                    Ok(entries) => entries.last().map(|(n, _)| n.saturating_add(1)),
                    Err(_) => None,
                };
                if !send((from, page)) {
                    return;
                }
                match next {
                    Some(n) => from = n,
                    None => return,
                }
            }
        })
    }

    /// Reads the planned chains ahead from `chain`'s seq `from` on, page after page, then the
    /// chains planned after it.
    fn records_ahead(&self, chain: &str, from: u64) -> Option<ReadAhead<(String, u64), Vec<u8>>> {
        let at = self.plan.iter().position(|(c, _)| c == chain)?;
        let (reader, plan, items) = (self.reader.clone(), self.plan.clone(), self.page);
        Some(ReadAhead::spawn(move |send| {
            let mut from = from;
            for (chain, last) in plan.get(at..).unwrap_or_default() {
                while from <= *last {
                    let page = reader.raw_records(chain, from, *last, items);
                    let read = match &page {
                        Ok(records) if !records.is_empty() => records.len() as u64,
                        _ => 0,
                    };
                    let page = page.map(|records| records.into_iter().map(|r| r.bytes).collect());
                    if !send(((chain.clone(), from), page)) || read == 0 {
                        return;
                    }
                    from += read;
                }
                from = 1;
            }
        }))
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
        if let Some(page) = self.commits.as_mut().and_then(|ahead| ahead.take(&from)) {
            return Ok(page?);
        }
        // not read ahead (the first page, or another range): this page here, the next ones ahead
        self.commits = None;
        let page = self.reader.raw_commits(from.saturating_sub(1), head, self.page)?;
        if let Some(&(last, _)) = page.last() {
            self.commits = Some(self.commits_ahead(last.saturating_add(1), head));
        }
        Ok(page)
    }

    fn plan(&mut self, chains: &[(&str, u64)]) {
        self.records = None;
        self.plan = chains.iter().map(|(chain, last)| ((*chain).to_owned(), *last)).collect();
    }

    async fn records(&mut self, chain: &str, from: u64, last: u64) -> Result<Vec<Vec<u8>>, Failure> {
        let at = (chain.to_owned(), from);
        if let Some(page) = self.records.as_mut().and_then(|ahead| ahead.take(&at)) {
            return Ok(page?);
        }
        self.records = None;
        let page: Vec<Vec<u8>> =
            self.reader.raw_records(chain, from, last, self.page)?.into_iter().map(|r| r.bytes).collect();
        if !page.is_empty() {
            self.records = self.records_ahead(chain, from + page.len() as u64);
        }
        Ok(page)
    }

    async fn finish(&mut self) -> Result<Vec<(String, u64)>, Failure> {
        self.commits = None;
        self.records = None;
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use fiscus_client::fiscus_ledger::store::Store;
    use fiscus_workload::{generate, WorkloadConfig};

    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().expect("a runtime").block_on(f)
    }

    /// A store read ahead answers every page as a direct read does, whether the audit reads a
    /// chain to its end or leaves it after its first page (as after damage), and wherever it asks
    /// for commit entries from.
    #[test]
    fn a_store_read_ahead_answers_what_a_direct_read_does_in_any_order() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, _) = Store::open(dir.path()).unwrap();
        let requests: Vec<_> = generate(&WorkloadConfig::new(1_500, 1)).collect();
        for group in requests.chunks(64) {
            for answer in store.commit_group(group).unwrap() {
                answer.unwrap();
            }
        }
        let reader = store.reader();
        let head = store.projection().commit_head.number;
        let chains: Vec<(String, u64)> =
            store.projection().chains().map(|c| (c.id.to_string(), c.head.seq)).filter(|(_, n)| *n > 0).collect();
        assert!(chains.iter().any(|(_, last)| *last > 100), "a chain of several pages");
        let records = |chain: &str, from: u64, last: u64| -> Vec<Vec<u8>> {
            reader.raw_records(chain, from, last, usize::MAX).unwrap().into_iter().map(|r| r.bytes).collect()
        };

        let mut src = StoreSource::new(&store);
        src.page = 16;
        let plan: Vec<(&str, u64)> = chains.iter().map(|(c, n)| (c.as_str(), *n)).collect();
        src.plan(&plan);
        for (i, (chain, last)) in chains.iter().enumerate() {
            let mut seq = 1;
            while seq <= *last {
                let page = block_on(src.records(chain, seq, *last)).unwrap();
                assert!(!page.is_empty() && page.len() <= 16, "{chain} from {seq}");
                assert_eq!(page, records(chain, seq, seq + page.len() as u64 - 1), "{chain} from {seq}");
                seq += page.len() as u64;
                // every third chain is left after its first page
                if i % 3 == 1 {
                    break;
                }
            }
        }

        let all = reader.raw_commits(0, head, usize::MAX).unwrap();
        assert_eq!(all.len() as u64, head);
        for from in [1, 40, 17, 1] {
            let mut next = from;
            let mut pages = 0;
            while next <= head && pages < 10 {
                let page = block_on(src.commit_entries(next, head)).unwrap();
                assert!(!page.is_empty() && page.len() <= 16, "from {next}");
                assert_eq!(page[..], all[next as usize - 1..][..page.len()], "from {next}");
                next += page.len() as u64;
                pages += 1;
            }
        }
        assert!(block_on(src.finish()).unwrap().is_empty());
    }
}
