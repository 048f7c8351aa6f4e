//! A logger's disk spool (`spool = "disk"`): the records its sink could not
//! take yet, in order, kept across restarts and process kills.
//!
//! One directory per logger holds `records` — frames of
//! `[length u32 LE][crc32 u32 LE][postcard EventRecord]`, appended — and
//! `read-offset`, the first byte not yet delivered (8 bytes LE, replaced
//! by rename). A frame is delivered when the sink acknowledged it and
//! `read-offset` moved past it; a crash between the two sends it again (at
//! least once, with the same event id). Opening drops a torn last frame
//! that a kill left half written. When everything is delivered both files
//! start over empty.
//!
//! Appends are synced to disk before the records leave memory, so a spooled
//! record survives a power loss as well as a kill.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ixn_plugin_api::sink::EventRecord;

const HEADER: usize = 8;

/// Why a spool cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("event spool {path}: {what}: {source}")]
pub struct SpoolError {
    path: PathBuf,
    what: &'static str,
    #[source]
    source: io::Error,
}

/// A [`Spool`] the logger's async writer uses: every file operation runs on
/// the blocking pool.
#[derive(Clone)]
pub struct SpoolHandle {
    spool: Arc<Mutex<Spool>>,
    dir: PathBuf,
}

impl SpoolHandle {
    /// [`Spool::open`], off the runtime.
    pub async fn open(dir: PathBuf, max_bytes: u64) -> Result<SpoolHandle, SpoolError> {
        let d = dir.clone();
        let spool = tokio::task::spawn_blocking(move || Spool::open(&d, max_bytes))
            .await
            .map_err(|e| task_failed(&dir, e))??;
        Ok(SpoolHandle {
            spool: Arc::new(Mutex::new(spool)),
            dir,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Spool> {
        // Every operation leaves the spool whole or reports an error first.
        self.spool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records waiting.
    pub fn records(&self) -> u64 {
        self.lock().records()
    }

    /// Bytes of records waiting.
    pub fn bytes(&self) -> u64 {
        self.lock().bytes()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Spool) -> Result<R, SpoolError> + Send + 'static,
    ) -> Result<R, SpoolError> {
        let spool = self.spool.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = spool.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut guard)
        })
        .await
        .map_err(|e| task_failed(&self.dir, e))?
    }

    /// [`Spool::append`].
    pub async fn append(&self, records: Vec<EventRecord>) -> Result<usize, SpoolError> {
        self.run(move |s| s.append(&records)).await
    }

    /// [`Spool::peek`].
    pub async fn peek(&self, max: usize) -> Result<Vec<EventRecord>, SpoolError> {
        self.run(move |s| s.peek(max)).await
    }

    /// [`Spool::consume`].
    pub async fn consume(&self, n: usize) -> Result<(), SpoolError> {
        self.run(move |s| s.consume(n)).await
    }
}

fn task_failed(dir: &Path, e: tokio::task::JoinError) -> SpoolError {
    SpoolError {
        path: dir.to_path_buf(),
        what: "running the file operation",
        source: io::Error::other(e.to_string()),
    }
}

/// An open spool.
pub struct Spool {
    dir: PathBuf,
    file: File,
    /// First byte not yet delivered.
    read: u64,
    /// End of the last whole frame.
    end: u64,
    /// Frames between `read` and `end`.
    records: u64,
    max_bytes: u64,
    /// End offset of each frame handed out by [`Spool::peek`], not yet consumed.
    peeked: Vec<u64>,
}

impl Spool {
    /// Opens (creating) the spool in `dir`, capped at `max_bytes` of
    /// undelivered records; counts what an earlier run left in it.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Spool, SpoolError> {
        let err = |what, source| SpoolError {
            path: dir.to_path_buf(),
            what,
            source,
        };
        std::fs::create_dir_all(dir).map_err(|e| err("creating the directory", e))?;
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(dir.join("records"))
            .map_err(|e| err("opening records", e))?;
        let read = match std::fs::read(dir.join("read-offset")) {
            Ok(bytes) => bytes
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_le_bytes)
                .unwrap_or(0),
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(err("reading read-offset", e)),
        };
        let mut spool = Spool {
            dir: dir.to_path_buf(),
            file,
            read,
            end: read,
            records: 0,
            max_bytes,
            peeked: Vec::new(),
        };
        spool.recover().map_err(|e| err("scanning records", e))?;
        Ok(spool)
    }

    /// Counts the whole frames after `read` and cuts a torn tail off.
    fn recover(&mut self) -> io::Result<()> {
        let len = self.file.metadata()?.len();
        if self.read > len {
            // The offset outlived its records (they were reset): start over.
            self.read = 0;
        }
        let mut reader = BufReader::new(&self.file);
        reader.seek(SeekFrom::Start(self.read))?;
        let (mut at, mut records) = (self.read, 0);
        while let Some(frame) = read_frame(&mut reader)? {
            at += (HEADER + frame.len()) as u64;
            records += 1;
        }
        if at < len {
            tracing::warn!(spool = %self.dir.display(), torn_bytes = len - at, "Event spool ends in a torn record (a kill mid-write); it is cut off.");
            self.file.set_len(at)?;
        }
        self.end = at;
        self.records = records;
        if records > 0 {
            tracing::info!(spool = %self.dir.display(), records, "Event spool holds records of an earlier run; they are delivered first.");
        }
        Ok(())
    }

    /// Records waiting.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Bytes of records waiting.
    pub fn bytes(&self) -> u64 {
        self.end - self.read
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Appends `records` in order and syncs them; stops at the size cap and
    /// returns how many were appended (the rest did not fit).
    pub fn append(&mut self, records: &[EventRecord]) -> Result<usize, SpoolError> {
        let mut buf = Vec::new();
        let mut appended = 0;
        for record in records {
            let body = ixn_plugin_api::abi::encode(record)
                .map_err(|e| self.error("encoding", io::Error::other(e.to_string())))?;
            let frame = (HEADER + body.len()) as u64;
            if self.bytes() + buf.len() as u64 + frame > self.max_bytes {
                break;
            }
            buf.extend_from_slice(&(body.len() as u32).to_le_bytes());
            buf.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
            buf.extend_from_slice(&body);
            appended += 1;
        }
        if appended == 0 {
            return Ok(0);
        }
        let written = self
            .file
            .write_all(&buf)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            // Nothing counts as spooled: cut back to the last whole frame.
            let _ = self.file.set_len(self.end);
            return Err(self.error("appending", e));
        }
        self.end += buf.len() as u64;
        self.records += appended as u64;
        Ok(appended)
    }

    /// The first `max` waiting records, in order, without consuming them.
    pub fn peek(&mut self, max: usize) -> Result<Vec<EventRecord>, SpoolError> {
        let mut reader = BufReader::new(&self.file);
        reader
            .seek(SeekFrom::Start(self.read))
            .map_err(|e| self.error("seeking", e))?;
        let mut out = Vec::new();
        let mut at = self.read;
        self.peeked.clear();
        while out.len() < max && at < self.end {
            let Some(frame) = read_frame(&mut reader).map_err(|e| self.error("reading", e))? else {
                break;
            };
            at += (HEADER + frame.len()) as u64;
            let record = ixn_plugin_api::abi::decode(&frame)
                .map_err(|e| self.error("decoding", io::Error::other(e.to_string())))?;
            out.push(record);
            self.peeked.push(at);
        }
        Ok(out)
    }

    /// Marks the first `n` records of the last [`Spool::peek`] delivered.
    pub fn consume(&mut self, n: usize) -> Result<(), SpoolError> {
        let Some(&at) = n.checked_sub(1).and_then(|i| self.peeked.get(i)) else {
            return Ok(());
        };
        self.peeked.clear();
        self.read = at;
        self.records -= n as u64;
        if self.records == 0 {
            // All delivered: start both files over.
            self.file
                .set_len(0)
                .map_err(|e| self.error("emptying records", e))?;
            self.read = 0;
            self.end = 0;
        }
        self.save_offset()
    }

    fn save_offset(&self) -> Result<(), SpoolError> {
        let tmp = self.dir.join("read-offset.tmp");
        let write = || -> io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(&self.read.to_le_bytes())?;
            f.sync_data()?;
            std::fs::rename(&tmp, self.dir.join("read-offset"))
        };
        write().map_err(|e| self.error("saving read-offset", e))
    }

    fn error(&self, what: &'static str, source: io::Error) -> SpoolError {
        SpoolError {
            path: self.dir.clone(),
            what,
            source,
        }
    }
}

/// The next whole, intact frame's body; `None` at the end or at a torn or
/// damaged frame (what follows it cannot be trusted either).
fn read_frame(reader: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut header = [0u8; HEADER];
    if !read_full(reader, &mut header)? {
        return Ok(None);
    }
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let mut body = vec![0u8; len];
    if !read_full(reader, &mut body)? || crc32fast::hash(&body) != crc {
        return Ok(None);
    }
    Ok(Some(body))
}

/// Fills `buf`; false when the input ends first.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => return Ok(false),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    fn record(sequence: u64) -> EventRecord {
        EventRecord {
            event_id: 156,
            event_name: "EventPlacedInQueue".into(),
            activity: "interaction".into(),
            endpoint: Some("queue".into()),
            occurred_at: 1,
            origin: "n:1".into(),
            sequence,
            generation: 1,
            interaction_id: Some(format!("ix{sequence}")),
            fields: Vec::new(),
        }
    }

    fn sequences(records: &[EventRecord]) -> Vec<u64> {
        records.iter().map(|r| r.sequence).collect()
    }

    #[test]
    fn keeps_order_across_reopen_and_consumes_in_steps() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(
            s.append(&(1..=5).map(record).collect::<Vec<_>>()).unwrap(),
            5
        );
        assert_eq!(sequences(&s.peek(3).unwrap()), [1, 2, 3]);
        // Only the first two were delivered.
        s.consume(2).unwrap();
        drop(s);
        let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(s.records(), 3);
        s.append(&[record(6)]).unwrap();
        assert_eq!(sequences(&s.peek(10).unwrap()), [3, 4, 5, 6]);
        s.consume(4).unwrap();
        assert!(s.is_empty());
        assert_eq!(
            std::fs::metadata(dir.path().join("records")).unwrap().len(),
            0
        );
    }

    #[test]
    fn a_torn_tail_is_cut_and_the_cap_holds() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
        s.append(&[record(1), record(2)]).unwrap();
        let whole = s.bytes();
        drop(s);
        // A kill in the middle of the next append.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join("records"))
            .unwrap();
        f.write_all(&[200, 0, 0, 0, 1, 2, 3]).unwrap();
        drop(f);
        let mut s = Spool::open(dir.path(), whole + 10).unwrap();
        assert_eq!((s.records(), s.bytes()), (2, whole));
        assert_eq!(sequences(&s.peek(10).unwrap()), [1, 2]);
        // The cap leaves no room for a third record.
        assert_eq!(s.append(&[record(3)]).unwrap(), 0);
    }
}
