//! A transaction's buffered writes, spilling to disk past a memory budget.
//!
//! Writes wait in the transaction until COMMIT. Small transactions keep them
//! in a sorted map. Once they pass `memory_bytes_max` the map is written out
//! as a sorted run in a temporary file (deleted when the transaction ends)
//! and a new map starts; a 1 GB COPY therefore holds at most one map's worth
//! in memory plus a sparse index and a Bloom filter per run. Lookups consult
//! the map, then the runs from newest to oldest, reading a run's file only
//! when its filter says the key may be there (so inserting new keys, a bulk
//! load's common case, reads no file); iteration merges them, newest write
//! winning.
//!
//! Run file entries: `table u64 | key_len u32 | key | tag u8 | row_len u32 | row`
//! (big-endian lengths), sorted by `(table, key)`; tags 1 insert, 2 put,
//! 3 delete, 4 lock (no row).
//!
//! # Savepoints
//!
//! [`WriteSet::mark`] sets a savepoint. While one is set, every change
//! first records the key's write before it (or that it had none) in an
//! undo log; [`WriteSet::rollback_to`] puts back, for each key changed
//! since the mark, the first write recorded after it, which is the key's
//! write at the mark. The undo log is held in memory: a transaction that
//! writes much inside a savepoint holds about its keys' worth more.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write as _};

use crate::catalog::ObjectId;
use crate::datum::{decode_row, encode_row, Datum};

/// Every this many entries a run keeps the key and file offset in memory.
const SPARSE_EVERY: usize = 64;
/// Past this many runs they are merged into one, so a lookup reads at most
/// this many blocks.
const RUNS_MAX: usize = 8;
/// Bloom filter bits per key in a run: with [`BLOOM_HASHES`] hashes, about
/// 1% false positives, for 1.25 bytes of memory per spilled write.
const BLOOM_BITS_PER_KEY: usize = 10;
/// Hash functions of a run's Bloom filter (optimal for 10 bits per key is
/// 10 · ln 2 ≈ 7).
const BLOOM_HASHES: u64 = 7;

/// How a buffered row write was asked for.
#[derive(Clone, Debug, PartialEq)]
pub enum Write {
    /// Must not exist (INSERT).
    Insert(Vec<Datum>),
    /// Insert or replace (upsert, UPDATE).
    Put(Vec<Datum>),
    /// Remove if present.
    Delete,
    /// Leave the row as it is, but count the key as written at commit
    /// (first-committer-wins): a row claimed by `SELECT … FOR UPDATE`.
    Lock,
}

impl Write {
    fn size(&self) -> u64 {
        match self {
            Write::Insert(r) | Write::Put(r) => Write::size_of_row(r),
            Write::Delete | Write::Lock => 8,
        }
    }

    fn size_of_row(r: &[Datum]) -> u64 {
        r.iter().map(datum_size).sum::<u64>() + 16
    }
}

fn datum_size(d: &Datum) -> u64 {
    match d {
        Datum::Text(s) | Datum::Json(s) => s.len() as u64 + 24,
        Datum::Bytea(b) | Datum::Jsonb(b) => b.len() as u64 + 24,
        _ => 24,
    }
}

/// A spill file could not be written or read back.
#[derive(Debug, thiserror::Error)]
#[error("transaction spill file: {0}")]
pub struct SpillError(String);

type Key = (ObjectId, Vec<u8>);
/// One sorted source of writes: memory or a run.
type Source<'a> = Box<dyn Iterator<Item = Result<(Key, Write), SpillError>> + 'a>;

#[derive(Debug)]
struct Run {
    file: File,
    /// Every `SPARSE_EVERY`-th key and its offset, plus the first.
    sparse: Vec<(Key, u64)>,
    /// The run's keys, for lookups of keys it does not hold.
    bloom: Bloom,
    len: u64,
}

/// A Bloom filter over `(table, key)`, with double hashing from one 64-bit
/// hash (Kirsch and Mitzenmacher).
#[derive(Debug)]
struct Bloom {
    bits: Vec<u64>,
}

impl Bloom {
    fn with_keys(n: usize) -> Bloom {
        let words = (n * BLOOM_BITS_PER_KEY).div_ceil(64).max(1);
        Bloom {
            bits: vec![0; words],
        }
    }

    fn hash(table: ObjectId, key: &[u8]) -> u64 {
        use std::hash::{Hash, Hasher};
        // SipHash with fixed keys: the same in every run and process.
        let mut h = std::collections::hash_map::DefaultHasher::new();
        table.hash(&mut h);
        key.hash(&mut h);
        h.finish()
    }

    fn probes(&self, hash: u64) -> impl Iterator<Item = (usize, u64)> {
        let (h1, h2) = (hash, hash.rotate_left(32) | 1);
        let nbits = self.bits.len() as u64 * 64;
        (0..BLOOM_HASHES).map(move |i| {
            let bit = h1.wrapping_add(i.wrapping_mul(h2)) % nbits;
            ((bit / 64) as usize, 1u64 << (bit % 64))
        })
    }

    fn insert(&mut self, hash: u64) {
        let probes: Vec<(usize, u64)> = self.probes(hash).collect();
        for (w, m) in probes {
            self.bits[w] |= m;
        }
    }

    fn may_contain(&self, table: ObjectId, key: &[u8]) -> bool {
        self.probes(Bloom::hash(table, key))
            .all(|(w, m)| self.bits[w] & m != 0)
    }
}

/// The write set. See the module docs.
#[derive(Debug)]
pub struct WriteSet {
    memory: BTreeMap<Key, Write>,
    memory_bytes: u64,
    memory_bytes_max: u64,
    runs: Vec<Run>,
    spilled_bytes: u64,
    /// Each change made while a mark is set: the key and its write before
    /// the change (`None`: it had none).
    undo: Vec<(Key, Option<Write>)>,
    /// The open marks, outermost first: the undo log's length at each.
    marks: Vec<usize>,
}

/// A savepoint in a [`WriteSet`]: its depth among the open marks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteMark(usize);

impl WriteSet {
    /// An empty write set that spills past `memory_bytes_max`.
    pub fn new(memory_bytes_max: u64) -> WriteSet {
        assert!(memory_bytes_max > 0);
        WriteSet {
            memory: BTreeMap::new(),
            memory_bytes: 0,
            memory_bytes_max,
            runs: Vec::new(),
            spilled_bytes: 0,
            undo: Vec::new(),
            marks: Vec::new(),
        }
    }

    /// Sets a savepoint: [`WriteSet::rollback_to`] it undoes every change
    /// made after this.
    pub fn mark(&mut self) -> WriteMark {
        self.marks.push(self.undo.len());
        WriteMark(self.marks.len() - 1)
    }

    /// Forgets `mark` and the marks set after it (RELEASE SAVEPOINT): their
    /// changes stay, as part of whatever encloses them.
    pub fn release(&mut self, mark: WriteMark) {
        assert!(mark.0 < self.marks.len(), "release of a mark not open");
        self.marks.truncate(mark.0);
        if self.marks.is_empty() {
            self.undo.clear();
        }
    }

    /// Undoes every change made since `mark` (ROLLBACK TO SAVEPOINT). The
    /// mark stays set; the marks set after it are forgotten.
    pub fn rollback_to(&mut self, mark: WriteMark) -> Result<(), SpillError> {
        assert!(mark.0 < self.marks.len(), "rollback to a mark not open");
        let at = self.marks[mark.0];
        self.marks.truncate(mark.0 + 1);
        // Each key's first record after the mark is its write at the mark.
        let mut restore: BTreeMap<Key, Option<Write>> = BTreeMap::new();
        for (k, w) in self.undo.drain(at..) {
            restore.entry(k).or_insert(w);
        }
        if self.runs.is_empty() {
            for (k, w) in restore {
                self.remove_memory(&k);
                if let Some(w) = w {
                    self.insert_memory(k, w);
                }
            }
            return Ok(());
        }
        // With spilled runs, a key may have to become absent again while a
        // run still holds it: rebuild, as ALTER and DROP do here.
        let mut all: Vec<(Key, Write)> = Vec::new();
        for entry in self.merged()? {
            let (k, w) = entry?;
            match restore.remove(&k) {
                Some(Some(before)) => all.push((k, before)),
                Some(None) => {}
                None => all.push((k, w)),
            }
        }
        // Keys a DROP or TRUNCATE after the mark removed.
        all.extend(restore.into_iter().filter_map(|(k, w)| w.map(|w| (k, w))));
        self.rebuild(all)
    }

    /// Replaces the writes with `all`, keeping the savepoints.
    fn rebuild(&mut self, all: Vec<(Key, Write)>) -> Result<(), SpillError> {
        let undo = std::mem::take(&mut self.undo);
        let marks = std::mem::take(&mut self.marks);
        let mut fresh = WriteSet::new(self.memory_bytes_max);
        for ((t, k), w) in all {
            fresh.put(t, k, w)?;
        }
        *self = fresh;
        self.undo = undo;
        self.marks = marks;
        Ok(())
    }

    /// Records the write `(table, key)` has now, if a savepoint is set.
    fn record(&mut self, table: ObjectId, key: &[u8]) -> Result<(), SpillError> {
        if !self.marks.is_empty() {
            let before = self.get(table, key)?;
            self.undo.push(((table, key.to_vec()), before));
        }
        Ok(())
    }

    /// Records every write to `table`, if a savepoint is set, before a
    /// change to all of them.
    fn record_table(&mut self, table: ObjectId) -> Result<(), SpillError> {
        if !self.marks.is_empty() {
            use std::ops::Bound::Unbounded;
            for (k, w) in self.range(table, Unbounded, Unbounded)? {
                self.undo.push(((table, k), Some(w)));
            }
        }
        Ok(())
    }

    fn insert_memory(&mut self, k: Key, w: Write) {
        let size = w.size() + k.1.len() as u64 + 48;
        if let Some(old) = self.memory.insert(k.clone(), w) {
            self.memory_bytes -= old.size() + k.1.len() as u64 + 48;
        }
        self.memory_bytes += size;
    }

    fn remove_memory(&mut self, k: &Key) {
        if let Some(old) = self.memory.remove(k) {
            self.memory_bytes -= old.size() + k.1.len() as u64 + 48;
        }
    }

    /// True when nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.memory.is_empty() && self.runs.is_empty()
    }

    /// Writes held in memory (the spilled ones not counted).
    pub fn memory_len(&self) -> usize {
        self.memory.len()
    }

    /// Bytes of the writes held in memory (an estimate, as budgeted).
    pub fn memory_bytes(&self) -> u64 {
        self.memory_bytes
    }

    /// True once some writes went to disk.
    pub fn spilled(&self) -> bool {
        !self.runs.is_empty()
    }

    /// Bytes written to spill files.
    pub fn spilled_bytes(&self) -> u64 {
        self.spilled_bytes
    }

    /// Records a write, replacing an earlier one to the same key.
    pub fn put(&mut self, table: ObjectId, key: Vec<u8>, w: Write) -> Result<(), SpillError> {
        self.record(table, &key)?;
        self.insert_memory((table, key), w);
        if self.memory_bytes > self.memory_bytes_max {
            self.spill()?;
        }
        Ok(())
    }

    /// The newest write to `(table, key)`.
    pub fn get(&self, table: ObjectId, key: &[u8]) -> Result<Option<Write>, SpillError> {
        let k = (table, key.to_vec());
        if let Some(w) = self.memory.get(&k) {
            return Ok(Some(w.clone()));
        }
        for run in self.runs.iter().rev() {
            if let Some(w) = run.get(&k)? {
                return Ok(Some(w));
            }
        }
        Ok(None)
    }

    /// Changes every buffered row of `table` with `f` (ALTER TABLE: rows
    /// this transaction wrote take the new column layout).
    pub fn map_table(
        &mut self,
        table: ObjectId,
        mut f: impl FnMut(&mut Vec<Datum>),
    ) -> Result<(), SpillError> {
        self.record_table(table)?;
        if self.runs.is_empty() {
            for (k, w) in self
                .memory
                .range_mut((table, Vec::new())..)
                .take_while(|(k, _)| k.0 == table)
            {
                if let Write::Insert(r) | Write::Put(r) = w {
                    let before = Write::size_of_row(r);
                    f(r);
                    self.memory_bytes = self.memory_bytes - before + Write::size_of_row(r);
                }
                let _ = k;
            }
            return Ok(());
        }
        // Rare with spilled runs: rebuild with the rows changed.
        let mut all: Vec<(Key, Write)> = self.merged()?.collect::<Result<_, _>>()?;
        for ((t, _), w) in &mut all {
            if let (true, Write::Insert(r) | Write::Put(r)) = (*t == table, w) {
                f(r);
            }
        }
        self.rebuild(all)
    }

    /// Drops every write to `table` (DROP TABLE, TRUNCATE in the transaction).
    pub fn remove_table(&mut self, table: ObjectId) -> Result<(), SpillError> {
        self.record_table(table)?;
        if self.runs.is_empty() {
            let keys: Vec<Key> = self
                .memory
                .range((table, Vec::new())..)
                .take_while(|(k, _)| k.0 == table)
                .map(|(k, _)| k.clone())
                .collect();
            for k in keys {
                let w = self.memory.remove(&k).expect("listed");
                self.memory_bytes -= w.size() + k.1.len() as u64 + 48;
            }
            return Ok(());
        }
        // Rare with spilled runs: rebuild without the table.
        let all: Vec<(Key, Write)> = self
            .merged()?
            .filter(|r| !matches!(r, Ok(((t, _), _)) if *t == table))
            .collect::<Result<_, _>>()?;
        self.rebuild(all)
    }

    /// The tables written to.
    pub fn tables(&self) -> Result<Vec<ObjectId>, SpillError> {
        let mut out: Vec<ObjectId> = Vec::new();
        for r in self.merged()? {
            let ((t, _), _) = r?;
            if out.last() != Some(&t) {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// Every write to `table` with a key in `[lo, hi)` bounds, merged, in key order.
    pub fn range(
        &self,
        table: ObjectId,
        lo: std::ops::Bound<&[u8]>,
        hi: std::ops::Bound<&[u8]>,
    ) -> Result<Vec<(Vec<u8>, Write)>, SpillError> {
        let inside = |k: &[u8]| {
            let above = match lo {
                std::ops::Bound::Included(l) => k >= l,
                std::ops::Bound::Excluded(l) => k > l,
                std::ops::Bound::Unbounded => true,
            };
            let below = match hi {
                std::ops::Bound::Included(h) => k <= h,
                std::ops::Bound::Excluded(h) => k < h,
                std::ops::Bound::Unbounded => true,
            };
            above && below
        };
        if self.runs.is_empty() {
            return Ok(self
                .memory
                .range((table, Vec::new())..)
                .take_while(|(k, _)| k.0 == table)
                .filter(|(k, _)| inside(&k.1))
                .map(|(k, w)| (k.1.clone(), w.clone()))
                .collect());
        }
        let mut out = Vec::new();
        for r in self.merged()? {
            let ((t, k), w) = r?;
            if t == table && inside(&k) {
                out.push((k, w));
            }
        }
        Ok(out)
    }

    /// All writes, merged across memory and runs (newest wins), in
    /// `(table, key)` order. Reads runs sequentially: memory stays bounded.
    pub fn merged(
        &self,
    ) -> Result<impl Iterator<Item = Result<(Key, Write), SpillError>> + '_, SpillError> {
        let mut sources: Vec<Source<'_>> = Vec::new();
        // Newest first: memory, then runs from the last.
        sources.push(Box::new(
            self.memory.iter().map(|(k, w)| Ok((k.clone(), w.clone()))),
        ));
        for run in self.runs.iter().rev() {
            sources.push(Box::new(run.iter()?));
        }
        Ok(Merge::new(sources))
    }

    fn spill(&mut self) -> Result<(), SpillError> {
        let memory = std::mem::take(&mut self.memory);
        let run = write_run(memory.into_iter().map(Ok))?;
        self.spilled_bytes += run.len;
        self.runs.push(run);
        self.memory_bytes = 0;
        if self.runs.len() > RUNS_MAX {
            let merged = write_run(self.merged()?)?;
            self.runs = vec![merged];
        }
        tracing::debug!(
            runs = self.runs.len(),
            bytes = self.spilled_bytes,
            "transaction writes spilled to disk"
        );
        Ok(())
    }
}

/// Writes sorted entries to a new temporary file.
fn write_run(
    entries: impl Iterator<Item = Result<(Key, Write), SpillError>>,
) -> Result<Run, SpillError> {
    let file = tempfile::tempfile().map_err(|e| SpillError(format!("create: {e}")))?;
    let mut w = BufWriter::new(file);
    let mut sparse = Vec::new();
    let mut offset = 0u64;
    let mut buf = Vec::new();
    // The filter is sized once the number of keys is known.
    let mut hashes: Vec<u64> = Vec::new();
    for (i, entry) in entries.enumerate() {
        let (k, wr) = entry?;
        if i % SPARSE_EVERY == 0 {
            sparse.push((k.clone(), offset));
        }
        hashes.push(Bloom::hash(k.0, &k.1));
        buf.clear();
        encode_entry(&k, &wr, &mut buf)?;
        w.write_all(&buf)
            .map_err(|e| SpillError(format!("write: {e}")))?;
        offset += buf.len() as u64;
    }
    let file = w
        .into_inner()
        .map_err(|e| SpillError(format!("flush: {e}")))?;
    let mut bloom = Bloom::with_keys(hashes.len());
    for h in hashes {
        bloom.insert(h);
    }
    Ok(Run {
        file,
        sparse,
        bloom,
        len: offset,
    })
}

fn encode_entry(k: &Key, w: &Write, out: &mut Vec<u8>) -> Result<(), SpillError> {
    out.extend_from_slice(&k.0.to_be_bytes());
    out.extend_from_slice(&(k.1.len() as u32).to_be_bytes());
    out.extend_from_slice(&k.1);
    let (tag, row) = match w {
        Write::Insert(r) => (1u8, Some(r)),
        Write::Put(r) => (2u8, Some(r)),
        Write::Delete => (3u8, None),
        Write::Lock => (4u8, None),
    };
    out.push(tag);
    let mut row_bytes = Vec::new();
    if let Some(r) = row {
        encode_row(r, &mut row_bytes).map_err(|e| SpillError(format!("encode row: {e}")))?;
    }
    out.extend_from_slice(&(row_bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(&row_bytes);
    Ok(())
}

fn read_entry(r: &mut impl Read) -> Result<Option<(Key, Write)>, SpillError> {
    let mut head = [0u8; 12];
    match r.read_exact(&mut head) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(SpillError(format!("read: {e}"))),
    }
    let table = u64::from_be_bytes(head[..8].try_into().expect("8 bytes"));
    let klen = u32::from_be_bytes(head[8..12].try_into().expect("4 bytes")) as usize;
    let mut key = vec![0u8; klen];
    let mut tag_len = [0u8; 5];
    r.read_exact(&mut key)
        .map_err(|e| SpillError(format!("read: {e}")))?;
    r.read_exact(&mut tag_len)
        .map_err(|e| SpillError(format!("read: {e}")))?;
    let rlen = u32::from_be_bytes(tag_len[1..5].try_into().expect("4 bytes")) as usize;
    let mut row = vec![0u8; rlen];
    r.read_exact(&mut row)
        .map_err(|e| SpillError(format!("read: {e}")))?;
    let decode = |b: &[u8]| decode_row(b).map_err(|e| SpillError(format!("decode row: {e}")));
    let w = match tag_len[0] {
        1 => Write::Insert(decode(&row)?),
        2 => Write::Put(decode(&row)?),
        3 => Write::Delete,
        4 => Write::Lock,
        t => return Err(SpillError(format!("bad entry tag {t}"))),
    };
    Ok(Some(((table, key), w)))
}

/// Reads a run's file from a position of its own.
struct RunReader<'f> {
    file: &'f File,
    at: u64,
}

impl Read for RunReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let n = self.file.read_at(buf, self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

impl Run {
    /// A reader of the run from `offset` on. It reads at its own position
    /// (`pread`), not the file descriptor's: readers of one run may be
    /// open at once, in one thread or in the threads of a parallel scan,
    /// and a cloned descriptor would share one offset among them.
    fn reader_at(&self, offset: u64) -> Result<BufReader<RunReader<'_>>, SpillError> {
        Ok(BufReader::with_capacity(
            64 * 1024,
            RunReader {
                file: &self.file,
                at: offset,
            },
        ))
    }

    fn get(&self, k: &Key) -> Result<Option<Write>, SpillError> {
        use std::os::unix::fs::FileExt;
        if !self.bloom.may_contain(k.0, &k.1) {
            return Ok(None);
        }
        let idx = self.sparse.partition_point(|(sk, _)| sk <= k);
        if idx == 0 {
            return Ok(None);
        }
        // One read of the block between two sparse keys, then parse it.
        let start = self.sparse[idx - 1].1;
        let end = self.sparse.get(idx).map(|(_, o)| *o).unwrap_or(self.len);
        let mut block = vec![0u8; (end - start) as usize];
        self.file
            .read_exact_at(&mut block, start)
            .map_err(|e| SpillError(format!("read: {e}")))?;
        // Compare keys in place; only the matching entry's row is decoded.
        let mut at = 0usize;
        let corrupt = || SpillError("truncated entry in a run".into());
        while at < block.len() {
            let head = block.get(at..at + 12).ok_or_else(corrupt)?;
            let table = u64::from_be_bytes(head[..8].try_into().expect("8 bytes"));
            let klen = u32::from_be_bytes(head[8..12].try_into().expect("4 bytes")) as usize;
            let key = block.get(at + 12..at + 12 + klen).ok_or_else(corrupt)?;
            let tail = block
                .get(at + 12 + klen..at + 17 + klen)
                .ok_or_else(corrupt)?;
            let rlen = u32::from_be_bytes(tail[1..5].try_into().expect("4 bytes")) as usize;
            let end = at + 17 + klen + rlen;
            match (table, key).cmp(&(k.0, k.1.as_slice())) {
                std::cmp::Ordering::Less => at = end,
                std::cmp::Ordering::Equal => {
                    let mut r = block.get(at..end).ok_or_else(corrupt)?;
                    return Ok(read_entry(&mut r)?.map(|(_, w)| w));
                }
                std::cmp::Ordering::Greater => break,
            }
        }
        Ok(None)
    }

    fn iter(
        &self,
    ) -> Result<impl Iterator<Item = Result<(Key, Write), SpillError>> + '_, SpillError> {
        // Each run has a file of its own, so its end is the file's end.
        let mut r = self.reader_at(0)?;
        let mut failed = false;
        Ok(std::iter::from_fn(move || {
            if failed {
                return None;
            }
            match read_entry(&mut r) {
                Ok(e) => e.map(Ok),
                Err(e) => {
                    failed = true;
                    Some(Err(e))
                }
            }
        }))
    }
}

/// Merges sorted sources; on equal keys the earliest source (newest) wins.
struct Merge<'a> {
    sources: Vec<std::iter::Peekable<Source<'a>>>,
}

impl<'a> Merge<'a> {
    fn new(sources: Vec<Source<'a>>) -> Merge<'a> {
        Merge {
            sources: sources.into_iter().map(|s| s.peekable()).collect(),
        }
    }
}

impl Iterator for Merge<'_> {
    type Item = Result<(Key, Write), SpillError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut best: Option<(usize, Key)> = None;
        for (i, s) in self.sources.iter_mut().enumerate() {
            match s.peek() {
                Some(Err(_)) => return s.next(),
                Some(Ok((k, _))) if best.as_ref().is_none_or(|(_, bk)| k < bk) => {
                    best = Some((i, k.clone()));
                }
                Some(Ok(_)) => {}
                None => {}
            }
        }
        let (i, key) = best?;
        let item = self.sources[i].next();
        // Older sources' writes to the same key are superseded.
        for s in self.sources.iter_mut().skip(i + 1) {
            while matches!(s.peek(), Some(Ok((k, _))) if *k == key) {
                s.next();
            }
        }
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One step of the savepoint model test.
    #[derive(Clone, Debug)]
    enum Op {
        Put(u64, u16, i64),
        Delete(u64, u16),
        Mark,
        Rollback(usize),
        Release(usize),
        RemoveTable(u64),
        MapTable(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0u64..3, 0u16..120, any::<i64>()).prop_map(|(t, k, v)| Op::Put(t, k, v)),
            2 => (0u64..3, 0u16..120).prop_map(|(t, k)| Op::Delete(t, k)),
            1 => Just(Op::Mark),
            1 => (0usize..4).prop_map(Op::Rollback),
            1 => (0usize..4).prop_map(Op::Release),
            1 => (0u64..3).prop_map(Op::RemoveTable),
            1 => (0u64..3).prop_map(Op::MapTable),
        ]
    }

    /// Runs `ops` on a write set with `budget` bytes of memory and on a
    /// model that snapshots the map at each mark, comparing after each.
    fn savepoints_match_model(ops: &[Op], budget: u64) -> Result<(), TestCaseError> {
        let mut ws = WriteSet::new(budget);
        let mut model: BTreeMap<Key, Write> = BTreeMap::new();
        let mut marks: Vec<(WriteMark, BTreeMap<Key, Write>)> = Vec::new();
        for op in ops {
            match op.clone() {
                Op::Put(t, k, v) => {
                    let w = Write::Put(vec![Datum::Int8(v), Datum::Text("x".repeat(20))]);
                    ws.put(t, k.to_be_bytes().to_vec(), w.clone()).unwrap();
                    model.insert((t, k.to_be_bytes().to_vec()), w);
                }
                Op::Delete(t, k) => {
                    ws.put(t, k.to_be_bytes().to_vec(), Write::Delete).unwrap();
                    model.insert((t, k.to_be_bytes().to_vec()), Write::Delete);
                }
                Op::Mark => marks.push((ws.mark(), model.clone())),
                Op::Rollback(i) if i < marks.len() => {
                    ws.rollback_to(marks[i].0).unwrap();
                    model = marks[i].1.clone();
                    marks.truncate(i + 1);
                }
                Op::Release(i) if i < marks.len() => {
                    ws.release(marks[i].0);
                    marks.truncate(i);
                }
                Op::Rollback(_) | Op::Release(_) => {}
                Op::RemoveTable(t) => {
                    ws.remove_table(t).unwrap();
                    model.retain(|k, _| k.0 != t);
                }
                Op::MapTable(t) => {
                    let f = |r: &mut Vec<Datum>| r.push(Datum::Bool(true));
                    ws.map_table(t, f).unwrap();
                    for (k, w) in model.iter_mut() {
                        if let (true, Write::Put(r) | Write::Insert(r)) = (k.0 == t, w) {
                            f(r);
                        }
                    }
                }
            }
            let got: Vec<(Key, Write)> = ws.merged().unwrap().collect::<Result<_, _>>().unwrap();
            let want: Vec<(Key, Write)> = model.clone().into_iter().collect();
            prop_assert_eq!(got, want, "after {:?}", op);
        }
        Ok(())
    }

    proptest! {
        /// ROLLBACK TO a mark gives back the writes at the mark, in memory
        /// and with spilled runs alike; RELEASE keeps them.
        #[test]
        fn savepoints_restore_the_writes_at_the_mark(ops in proptest::collection::vec(op(), 1..120)) {
            savepoints_match_model(&ops, 1 << 30)?;
            savepoints_match_model(&ops, 1_500)?;
        }

        /// A tiny budget forces many runs; lookups and the merge equal a map.
        #[test]
        fn spilled_writes_equal_a_map(ops in proptest::collection::vec((0u64..3, 0u16..200, 0u8..4, any::<i64>()), 60..400)) {
            let mut ws = WriteSet::new(2_000);
            let mut model: BTreeMap<Key, Write> = BTreeMap::new();
            for (t, k, kind, v) in ops {
                let key = k.to_be_bytes().to_vec();
                let w = match kind {
                    0 => Write::Insert(vec![Datum::Int8(v)]),
                    1 => Write::Put(vec![Datum::Int8(v), Datum::Text("x".repeat((v as u8) as usize))]),
                    2 => Write::Delete,
                    _ => Write::Lock,
                };
                ws.put(t, key.clone(), w.clone()).unwrap();
                model.insert((t, key), w);
            }
            prop_assert!(ws.spilled(), "the budget is small enough to force runs");
            for ((t, k), w) in &model {
                let got = ws.get(*t, k).unwrap();
                prop_assert_eq!(got.as_ref(), Some(w));
            }
            // Keys never written are absent, whatever the Bloom filters say.
            for k in 200u16..260 {
                prop_assert_eq!(ws.get(1, &k.to_be_bytes()).unwrap(), None);
            }
            let merged: Vec<(Key, Write)> = ws.merged().unwrap().collect::<Result<_, _>>().unwrap();
            let want: Vec<(Key, Write)> = model.clone().into_iter().collect();
            prop_assert_eq!(merged, want);
            let t1: Vec<(Vec<u8>, Write)> = model.iter().filter(|(k, _)| k.0 == 1).map(|(k, w)| (k.1.clone(), w.clone())).collect();
            prop_assert_eq!(ws.range(1, std::ops::Bound::Unbounded, std::ops::Bound::Unbounded).unwrap(), t1);
        }
    }
}
