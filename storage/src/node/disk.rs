//! Where a hosted segment's bodies live once they left memory: its log file
//! (record bodies and base images, by location) and its page file (coalesced
//! images, by slot), both read through one byte-bounded cache per node.
//!
//! This is what keeps a storage node's memory independent of its data: the
//! segment keeps only an index ([`crate::segment`]), and [`Cache`] holds the
//! bodies read or written recently, evicting the least recently used beyond
//! its capacity. Every read from disk checks the entry's checksums (and the
//! segment checks it got the entry it asked for); a failed read is reported,
//! never served.
//!
//! # The page file
//! `pages` in the segment directory: fixed slots of [`PAGE_SLOT_BYTES`] (one
//! page, 4 KiB-aligned), each holding an image; the slot's CRC32C, over the
//! page number, LSN and image, is kept in memory. It only holds images the
//! log can rebuild (coalesced versions, images repaired from a peer), so it
//! is never fsynced and is emptied when the segment loads, and checksums
//! that die with the process lose nothing. Slots are whole filesystem
//! blocks so an image write never touches part of a block: with a 20-byte
//! header in the file, every write began and ended inside a block, and
//! ext4 zeroed the rest of each new block first (or, for a block no longer
//! cached, would have read it back), 6% of `sextant dev`'s CPU under
//! upserts into 1,000,000 events. Freed slots are reused; while a
//! compaction reads images by slot, frees are deferred so that no slot
//! changes under it.
//!
//! # What was just written is cached as written
//! The writer hands each fsynced batch over as the bytes it wrote, cut at
//! entry boundaries into runs of at most [`WRITTEN_RUN_BYTES_MAX`]: one cache
//! item per run, found by a small per-segment list of where runs start, and
//! decoded (checksums included) when read. Caching every written entry as
//! its own item cost a lock, a hash-map insert and an eviction per record on
//! the write path (the map's probes were 7-10% of a node's CPU samples at
//! concurrency 64, about 1% since); per run it is one of each per batch, and
//! the map holds a fraction of the items. Runs are copied into shared
//! buffers of exactly that size, filled one after the other, so what the
//! cache keeps alive is close to the bytes it counts (a batch's own buffer
//! has up to twice its length in spare capacity). Entries read back from
//! disk are still cached one by one.
//!
//! # Locking
//! The log file handle and generation sit under an `RwLock` (replaced only by
//! a compaction, under the segment's state lock); the page file allocator
//! and the list of written runs under their own `Mutex`es; the cache under
//! its own `Mutex`, never held during I/O.

use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bytes::{Bytes, BytesMut};

use crate::node::format;
use crate::segment::{BodyStore, ImageSlot, LogEntry, LogLoc, ReadError};
use crate::types::{Lsn, PageId, PAGE_SIZE};

/// Name of the page file in a segment directory.
pub const PAGES_FILE: &str = "pages";
/// Bytes of one page-file slot: an image, nothing else (see the module docs).
pub const PAGE_SLOT_BYTES: usize = PAGE_SIZE;
/// Slots one page file holds at most (a 10 GiB segment has 1.3 M pages).
pub const PAGE_SLOTS_MAX: u32 = u32::MAX / 2;
/// Bookkeeping a cached item costs beyond its bytes: its hash-map slot (key
/// and decoded entry, ~150 bytes), its queue entry (~32, stale ones
/// included) and the body's allocation header.
const CACHE_ITEM_OVERHEAD_BYTES: u64 = 256;
/// Largest run of written entries cached as one item (a batch is cut into
/// runs at entry boundaries; one entry larger than this is a run alone).
pub const WRITTEN_RUN_BYTES_MAX: usize = 64 * 1024;
const _: () =
    assert!(format::ENTRY_HEADER_BYTES + format::ENTRY_PAYLOAD_MAX <= WRITTEN_RUN_BYTES_MAX);
/// Runs a segment remembers the start of, at most (the oldest are
/// forgotten first; a forgotten run is read from disk entry by entry).
const WRITTEN_RUNS_MAX: usize = 16 * 1024;

/// Source of store ids, so cache keys of different segments never collide.
static NEXT_STORE_ID: AtomicU64 = AtomicU64::new(1);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    Log {
        store: u64,
        generation: u32,
        offset: u64,
    },
    Slot {
        store: u64,
        slot: u32,
    },
    /// A run of entries as written, starting at `offset`.
    Run {
        store: u64,
        generation: u32,
        offset: u64,
    },
}

#[derive(Clone, Debug)]
enum Cached {
    Entry(LogEntry),
    Image(Bytes),
    /// Encoded entries, as written to the log.
    Run(Bytes),
}

/// A multiply-rotate hasher for [`Key`] (a few integers we chose, not
/// input an attacker controls): SipHash showed in profiles of the write path.
#[derive(Default)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        // The product's high bits depend on every input bit, its low bits
        // only on the input's low bits (offsets share those); the table
        // indexes by the low bits, so bring the high ones down.
        self.0.rotate_left(20)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }
    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn write_isize(&mut self, n: isize) {
        self.write_u64(n as u64);
    }
}

/// One cached item: its value, size, whether it was read since the clock
/// hand last passed it, and which insertion of its key it is (queue
/// entries of an earlier insertion or of a removed item are stale).
#[derive(Debug)]
struct Item {
    value: Cached,
    size: u64,
    referenced: bool,
    generation: u64,
}

#[derive(Debug, Default)]
struct CacheInner {
    map: HashMap<Key, Item, std::hash::BuildHasherDefault<KeyHasher>>,
    /// Insertion order for the clock hand (second chance): keys with the
    /// generation they were queued at, oldest first.
    queue: VecDeque<(Key, u64)>,
    generation: u64,
    bytes: u64,
}

impl CacheInner {
    /// Evicts until `bytes` fits `capacity`: the oldest item not read since
    /// the hand last passed it goes; a read one gets a second chance at the
    /// back. Evicted values are returned so they are dropped (freed) after
    /// the lock is released.
    fn evict_to(&mut self, capacity: u64, out: &mut Vec<Cached>) {
        while self.bytes > capacity {
            let (key, generation) = self
                .queue
                .pop_front()
                .expect("bytes held means items queued");
            let Some(item) = self.map.get_mut(&key) else {
                continue;
            };
            if item.generation != generation {
                continue;
            }
            if item.referenced {
                item.referenced = false;
                self.queue.push_back((key, generation));
                continue;
            }
            let item = self.map.remove(&key).expect("found above");
            self.bytes -= item.size;
            out.push(item.value);
        }
        // Stale entries (replaced or removed items) are dropped from the
        // queue before they outnumber the live ones.
        if self.queue.len() > 2 * self.map.len() + 64 {
            let map = &self.map;
            self.queue
                .retain(|(k, g)| map.get(k).is_some_and(|i| i.generation == *g));
        }
    }
}

/// Cache statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Bytes held (items plus their bookkeeping).
    pub bytes: u64,
    /// Items held.
    pub items: u64,
    /// Reads answered from the cache.
    pub hits: u64,
    /// Reads that went to disk.
    pub misses: u64,
}

/// A byte-bounded cache of bodies and images, shared by a node's segments,
/// evicting by CLOCK (second chance): a read only sets a flag, so neither
/// reads nor inserts reorder anything (an ordered LRU's tree showed in the
/// write path's profile).
#[derive(Debug)]
pub struct Cache {
    capacity: u64,
    inner: Mutex<CacheInner>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Cache {
    /// A cache holding at most `capacity` bytes.
    pub fn new(capacity: u64) -> Cache {
        Cache {
            capacity,
            inner: Mutex::new(CacheInner::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Most bytes it holds.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// What it holds now and how it did.
    pub fn stats(&self) -> CacheStats {
        let inner = self.inner.lock().expect("cache lock");
        CacheStats {
            bytes: inner.bytes,
            items: inner.map.len() as u64,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    fn get(&self, key: Key) -> Option<Cached> {
        self.lookup(key, true)
    }

    /// [`Cache::get`], counting a miss only if `count_miss` (a miss that
    /// falls back to another key is not a read from disk).
    fn lookup(&self, key: Key, count_miss: bool) -> Option<Cached> {
        let mut inner = self.inner.lock().expect("cache lock");
        let Some(item) = inner.map.get_mut(&key) else {
            drop(inner);
            if count_miss {
                self.misses.fetch_add(1, Ordering::Relaxed);
            }
            return None;
        };
        item.referenced = true;
        let value = item.value.clone();
        drop(inner);
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(value)
    }

    fn insert(&self, key: Key, value: Cached) {
        let size = CACHE_ITEM_OVERHEAD_BYTES
            + match &value {
                Cached::Image(b) | Cached::Run(b) => b.len() as u64,
                Cached::Entry(LogEntry::Base { image, .. }) => image.len() as u64,
                Cached::Entry(LogEntry::Record { record, .. }) => record.encoded_len() as u64,
                Cached::Entry(_) => 16,
            };
        if size > self.capacity {
            return;
        }
        let mut evicted = Vec::new();
        let mut inner = self.inner.lock().expect("cache lock");
        inner.generation += 1;
        let generation = inner.generation;
        let item = Item {
            value,
            size,
            referenced: false,
            generation,
        };
        if let Some(old) = inner.map.insert(key, item) {
            inner.bytes -= old.size;
            evicted.push(old.value);
        }
        inner.queue.push_back((key, generation));
        inner.bytes += size;
        inner.evict_to(self.capacity, &mut evicted);
        assert!(inner.bytes <= self.capacity, "cache over its capacity");
        drop(inner);
        drop(evicted);
    }

    fn remove(&self, key: Key) {
        let mut inner = self.inner.lock().expect("cache lock");
        let removed = inner.map.remove(&key);
        if let Some(item) = &removed {
            inner.bytes -= item.size;
        }
        drop(inner);
        drop(removed);
    }
}

#[derive(Debug)]
struct LogFile {
    file: Arc<File>,
    generation: u32,
}

/// Where the runs of written entries cached recently start (their bytes
/// are cache items, which may have been evicted since).
#[derive(Debug, Default)]
struct WrittenRuns {
    generation: u32,
    /// `(offset, len)` of each run, ascending and not overlapping.
    runs: VecDeque<(u64, u32)>,
    /// Bytes the listed runs cover.
    bytes: u64,
    /// What is left of the buffer runs are copied into.
    buffer: BytesMut,
}

impl WrittenRuns {
    /// The run holding all of `loc`, if one is listed.
    fn find(&self, loc: LogLoc) -> Option<(u64, u32)> {
        if loc.generation != self.generation {
            return None;
        }
        let i = self.runs.partition_point(|(start, _)| *start <= loc.offset);
        let (start, len) = *self.runs.get(i.checked_sub(1)?)?;
        (loc.offset + u64::from(loc.len) <= start + u64::from(len)).then_some((start, len))
    }
}

#[derive(Debug)]
struct PageFile {
    file: File,
    /// Slots ever handed out: the file is `next * PAGE_SLOT_BYTES` long at most.
    next: u32,
    /// Per slot handed out, the CRC32C of its page number, LSN and image
    /// ([`slot_crc`]), set when the image is written.
    crcs: Vec<u32>,
    free: Vec<u32>,
    /// Compactions reading by slot; frees wait in `deferred` while non-zero.
    pinned: u32,
    deferred: Vec<u32>,
}

/// CRC32C of a page-file slot's contents: page number and LSN (big-endian),
/// then the image.
fn slot_crc(page: PageId, lsn: Lsn, image: &[u8]) -> u32 {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&page.0.to_be_bytes());
    key[8..].copy_from_slice(&lsn.0.to_be_bytes());
    crc32c::crc32c_append(crc32c::crc32c(&key), image)
}

/// The files of one hosted segment, seen as a [`BodyStore`].
#[derive(Debug)]
pub struct DiskStore {
    id: u64,
    log: RwLock<LogFile>,
    pages: Mutex<PageFile>,
    written: Mutex<WrittenRuns>,
    cache: Arc<Cache>,
}

impl DiskStore {
    /// A store over the segment's current log file and a fresh (emptied)
    /// page file in `dir`.
    pub fn open(
        dir: &Path,
        log: Arc<File>,
        generation: u32,
        cache: Arc<Cache>,
    ) -> io::Result<DiskStore> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.join(PAGES_FILE))?;
        Ok(DiskStore {
            id: NEXT_STORE_ID.fetch_add(1, Ordering::Relaxed),
            log: RwLock::new(LogFile {
                file: log,
                generation,
            }),
            pages: Mutex::new(PageFile {
                file,
                next: 0,
                crcs: Vec::new(),
                free: Vec::new(),
                pinned: 0,
                deferred: Vec::new(),
            }),
            written: Mutex::new(WrittenRuns {
                generation,
                ..WrittenRuns::default()
            }),
            cache,
        })
    }

    /// The log generation reads go to.
    pub fn generation(&self) -> u32 {
        self.log.read().expect("log lock").generation
    }

    /// Makes `file` (generation `generation`) the log reads go to. The
    /// caller holds the segment's state lock and has relocated its index.
    pub fn switch_log(&self, file: Arc<File>, generation: u32) {
        let mut log = self.log.write().expect("log lock");
        assert!(
            generation > log.generation,
            "log generation {generation} does not follow {}",
            log.generation
        );
        *log = LogFile { file, generation };
        drop(log);
        *self.written.lock().expect("written runs lock") = WrittenRuns {
            generation,
            ..WrittenRuns::default()
        };
    }

    /// Bytes the node's cache holds now.
    #[cfg(test)]
    pub fn cache_bytes(&self) -> u64 {
        self.cache.stats().bytes
    }

    /// Points reads at another handle of the same generation (tests that
    /// damage the file behind the store's back).
    #[cfg(test)]
    pub fn replace_log_for_test(&self, file: Arc<File>, generation: u32) {
        *self.log.write().expect("log lock") = LogFile { file, generation };
    }

    /// `bytes` were just written at `offset` of log `generation`, entries
    /// ending at `ends` (offsets in `bytes`, ascending, the last at its
    /// end): keep them warm, as runs of whole entries.
    pub fn note_written(&self, generation: u32, offset: u64, bytes: &[u8], ends: &[usize]) {
        assert_eq!(
            ends.last().copied().unwrap_or(0),
            bytes.len(),
            "entries cover the write"
        );
        let mut runs = Vec::new();
        let mut start = 0usize;
        for (i, end) in ends.iter().copied().enumerate() {
            let next_end = ends.get(i + 1).copied();
            if next_end.is_none_or(|n| n - start > WRITTEN_RUN_BYTES_MAX) {
                runs.push((start, end));
                start = end;
            }
        }
        let mut written = self.written.lock().expect("written runs lock");
        if written.generation != generation {
            // A compaction switched generations after this write.
            return;
        }
        for (from, to) in runs {
            let at = offset + from as u64;
            let len = u32::try_from(to - from).expect("runs are bounded");
            assert!(
                written
                    .runs
                    .back()
                    .is_none_or(|(s, l)| s + u64::from(*l) <= at),
                "written runs out of order"
            );
            if written.buffer.capacity() - written.buffer.len() < to - from {
                written.buffer = BytesMut::with_capacity(WRITTEN_RUN_BYTES_MAX);
            }
            written.buffer.extend_from_slice(&bytes[from..to]);
            let run = written.buffer.split().freeze();
            self.cache.insert(
                Key::Run {
                    store: self.id,
                    generation,
                    offset: at,
                },
                Cached::Run(run),
            );
            written.runs.push_back((at, len));
            written.bytes += u64::from(len);
            // The cache cannot hold more than its capacity of runs anyway.
            while written.runs.len() > WRITTEN_RUNS_MAX || written.bytes > self.cache.capacity() {
                let (_, l) = written.runs.pop_front().expect("bytes listed means runs");
                written.bytes -= u64::from(l);
            }
        }
    }

    /// The entry at `loc` from a cached run of written entries, if any.
    fn read_written(&self, loc: LogLoc) -> Option<LogEntry> {
        let (start, _) = self.written.lock().expect("written runs lock").find(loc)?;
        let key = Key::Run {
            store: self.id,
            generation: loc.generation,
            offset: start,
        };
        let Some(Cached::Run(run)) = self.cache.lookup(key, false) else {
            return None;
        };
        let from = usize::try_from(loc.offset - start).expect("runs are bounded");
        let bytes = run.slice(from..from + loc.len as usize);
        match format::decode_entry_at(bytes, loc) {
            Ok(entry) => Some(entry),
            Err(e) => {
                // Bytes we wrote ourselves: a failure is a bug here, and the
                // disk gets the last word.
                tracing::error!(?loc, "cached written entry fails to decode: {e}");
                None
            }
        }
    }

    /// Defers slot frees until [`DiskStore::unpin_slots`]: a compaction is
    /// reading images by slot.
    pub fn pin_slots(&self) {
        self.pages.lock().expect("page file lock").pinned += 1;
    }

    /// Ends a [`DiskStore::pin_slots`].
    pub fn unpin_slots(&self) {
        let mut p = self.pages.lock().expect("page file lock");
        p.pinned = p.pinned.checked_sub(1).expect("unpin without pin");
        if p.pinned == 0 {
            let deferred = std::mem::take(&mut p.deferred);
            p.free.extend(deferred);
        }
    }

    /// Bytes of the page file in use and allocated.
    pub fn page_file_slots(&self) -> (u32, u32) {
        let p = self.pages.lock().expect("page file lock");
        let free = (p.free.len() + p.deferred.len()) as u32;
        (p.next - free, p.next)
    }

    fn log_key(&self, loc: LogLoc) -> Key {
        Key::Log {
            store: self.id,
            generation: loc.generation,
            offset: loc.offset,
        }
    }

    fn slot_key(&self, slot: ImageSlot) -> Key {
        Key::Slot {
            store: self.id,
            slot: slot.0,
        }
    }
}

impl BodyStore for DiskStore {
    fn read_entry(&self, loc: LogLoc) -> Result<LogEntry, ReadError> {
        if let Some(e) = self.read_written(loc) {
            return Ok(e);
        }
        let key = self.log_key(loc);
        if let Some(Cached::Entry(e)) = self.cache.get(key) {
            return Ok(e);
        }
        let file = {
            let log = self.log.read().expect("log lock");
            if log.generation != loc.generation {
                return Err(ReadError::Corrupt(format!(
                    "location {loc:?} is not in the current log generation {}",
                    log.generation
                )));
            }
            log.file.clone()
        };
        let entry = format::read_entry_at(&file, loc).map_err(|e| match e {
            format::EntryReadError::Io { source, .. } => ReadError::Io(source),
            other => ReadError::Corrupt(other.to_string()),
        })?;
        self.cache.insert(key, Cached::Entry(entry.clone()));
        Ok(entry)
    }

    fn put_image(&self, page: PageId, lsn: Lsn, image: &Bytes) -> Option<ImageSlot> {
        assert_eq!(image.len(), PAGE_SLOT_BYTES, "page image of the wrong size");
        let crc = slot_crc(page, lsn, image);
        let mut p = self.pages.lock().expect("page file lock");
        let slot = match p.free.pop() {
            Some(s) => s,
            None if p.next < PAGE_SLOTS_MAX => {
                p.next += 1;
                p.next - 1
            }
            None => return None,
        };
        let at = u64::from(slot) * PAGE_SLOT_BYTES as u64;
        if let Err(e) = p.file.write_all_at(image, at) {
            tracing::warn!(%page, %lsn, "failed to write a page image to the page file, keeping it in memory: {e}");
            p.free.push(slot);
            return None;
        }
        // A slot whose first write failed went back to the free list with
        // no checksum, so later slots may lie past the end.
        let i = slot as usize;
        if i >= p.crcs.len() {
            p.crcs.resize(i + 1, 0);
        }
        p.crcs[i] = crc;
        drop(p);
        let slot = ImageSlot(slot);
        self.cache
            .insert(self.slot_key(slot), Cached::Image(image.clone()));
        Some(slot)
    }

    fn read_image(&self, slot: ImageSlot, page: PageId, lsn: Lsn) -> Result<Bytes, ReadError> {
        let key = self.slot_key(slot);
        if let Some(Cached::Image(b)) = self.cache.get(key) {
            return Ok(b);
        }
        let mut buf = vec![0u8; PAGE_SLOT_BYTES];
        let stored = {
            let p = self.pages.lock().expect("page file lock");
            let Some(&crc) = p.crcs.get(slot.0 as usize) else {
                return Err(ReadError::Corrupt(format!(
                    "page slot {} never written",
                    slot.0
                )));
            };
            p.file
                .read_exact_at(&mut buf, u64::from(slot.0) * PAGE_SLOT_BYTES as u64)?;
            crc
        };
        // The checksum covers the page and LSN asked for, so a slot holding
        // another version fails it as a damaged one does.
        if slot_crc(page, lsn, &buf) != stored {
            return Err(ReadError::Corrupt(format!(
                "page slot {} fails its checksum for page {page} at {lsn}",
                slot.0
            )));
        }
        let image = Bytes::from(buf);
        self.cache.insert(key, Cached::Image(image.clone()));
        Ok(image)
    }

    fn free_image(&self, slot: ImageSlot) {
        self.cache.remove(self.slot_key(slot));
        let mut p = self.pages.lock().expect("page file lock");
        assert!(
            slot.0 < p.next,
            "freeing page slot {} never handed out",
            slot.0
        );
        if p.pinned > 0 {
            p.deferred.push(slot.0);
        } else {
            p.free.push(slot.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_stays_within_its_capacity_and_evicts_the_oldest() {
        let cap = 4 * (PAGE_SIZE as u64 + CACHE_ITEM_OVERHEAD_BYTES);
        let c = Cache::new(cap);
        let img = Bytes::from(vec![1u8; PAGE_SIZE]);
        for slot in 0..10u32 {
            c.insert(Key::Slot { store: 1, slot }, Cached::Image(img.clone()));
            assert!(c.stats().bytes <= cap);
            // Slot 0 is read after every insert, so it stays.
            assert!(c.get(Key::Slot { store: 1, slot: 0 }).is_some());
        }
        assert_eq!(c.stats().items, 4);
        assert!(c.get(Key::Slot { store: 1, slot: 9 }).is_some());
        assert!(c.get(Key::Slot { store: 1, slot: 1 }).is_none());
        c.remove(Key::Slot { store: 1, slot: 0 });
        assert_eq!(c.stats().items, 3);
    }

    #[test]
    fn page_slots_round_trip_and_refuse_damage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = Arc::new(File::create(dir.path().join("log.0")).expect("log"));
        let cache = Arc::new(Cache::new(0));
        let store = DiskStore::open(dir.path(), log, 0, cache).expect("open");
        let img = Bytes::from(vec![3u8; PAGE_SIZE]);
        let slot = store.put_image(PageId(5), Lsn(9), &img).expect("slot");
        assert_eq!(
            store.read_image(slot, PageId(5), Lsn(9)).expect("read"),
            img
        );
        assert!(store.read_image(slot, PageId(5), Lsn(8)).is_err());
        let f = OpenOptions::new()
            .write(true)
            .open(dir.path().join(PAGES_FILE))
            .expect("open");
        f.write_all_at(&[0xFF], 100).expect("damage");
        assert!(matches!(
            store.read_image(slot, PageId(5), Lsn(9)),
            Err(ReadError::Corrupt(_))
        ));
        store.pin_slots();
        store.free_image(slot);
        let other = store.put_image(PageId(6), Lsn(9), &img).expect("slot");
        assert_ne!(other, slot, "a pinned free is not reused");
        store.unpin_slots();
        assert_eq!(store.put_image(PageId(7), Lsn(9), &img), Some(slot));
    }

    fn record_entry(lsn: u64) -> LogEntry {
        LogEntry::Record {
            received_ms: lsn,
            record: crate::types::LogRecord {
                lsn: Lsn(lsn),
                epoch: crate::types::Epoch(1),
                page: PageId(lsn % 3),
                pg_prev_lsn: Lsn(lsn - 1),
                vol_prev_lsn: Lsn(lsn - 1),
                flags: 0,
                body: crate::types::RecordBody::Image(Bytes::from(vec![lsn as u8; PAGE_SIZE])),
            },
        }
    }

    /// A batch handed over as written is read back from memory, as runs of
    /// whole entries within the run bound; once its runs are evicted, reads
    /// go to the file and still get the right entries.
    #[test]
    fn written_batches_are_read_back_from_their_runs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log.0");
        let log = Arc::new(format::open_log(&path).expect("log"));
        let entries: Vec<LogEntry> = (1..=20).map(record_entry).collect();
        let mut buf = BytesMut::new();
        let mut locs = Vec::new();
        let mut ends = Vec::new();
        for e in &entries {
            let start = buf.len();
            format::encode_entry(e, &mut buf);
            ends.push(buf.len());
            locs.push(LogLoc {
                generation: 0,
                offset: start as u64,
                len: u32::try_from(buf.len() - start).expect("small"),
            });
        }
        log.write_all_at(&buf, 0).expect("write");
        let cache = Arc::new(Cache::new(1 << 20));
        let store = DiskStore::open(dir.path(), log, 0, cache.clone()).expect("open");
        store.note_written(0, 0, &buf, &ends);
        // 20 entries of ~8.3 KiB: three runs of at most 64 KiB.
        let runs = store.written.lock().expect("lock").runs.clone();
        assert_eq!(runs.len(), 3);
        assert!(runs
            .iter()
            .all(|(_, l)| *l as usize <= WRITTEN_RUN_BYTES_MAX));
        assert_eq!(cache.stats().items, 3);

        // Damage on disk is not seen: the reads come from memory.
        let f = OpenOptions::new().write(true).open(&path).expect("open");
        f.write_all_at(&[0xEE; 8], locs[5].offset + 40)
            .expect("damage");
        for (e, loc) in entries.iter().zip(&locs) {
            assert_eq!(&store.read_entry(*loc).expect("read"), e);
        }
        assert_eq!((cache.stats().hits, cache.stats().misses), (20, 0));

        // Evicted (crowded out by other items), they are read from the
        // file, checked: the damaged one is refused, the others served.
        for slot in 0..400u32 {
            cache.insert(
                Key::Slot { store: 99, slot },
                Cached::Image(Bytes::from(vec![0u8; PAGE_SIZE])),
            );
        }
        for (i, (e, loc)) in entries.iter().zip(&locs).enumerate() {
            match store.read_entry(*loc) {
                Ok(got) => assert_eq!(&got, e),
                Err(ReadError::Corrupt(_)) if i == 5 => {}
                Err(other) => panic!("entry {i}: {other:?}"),
            }
        }
        assert!(store.read_entry(locs[5]).is_err());
        assert_eq!(cache.stats().misses, 21);
    }
}
