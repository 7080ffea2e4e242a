//! The buffer pool: page versions cached in memory, bounded by bytes.
//!
//! # Versions
//! A cached version is a page image plus the LSN range it is valid for:
//! from its page LSN (the commit that last changed it) up to `valid_until`,
//! or open-ended for the newest version. A snapshot at LSN `S` may use a
//! version whose range contains `S`. The commit pipeline adds a version for
//! every page a commit changes and closes the previous one, so while a page
//! stays cached its chain of versions is complete; an image fetched from
//! storage at `S` is valid only up to `S` unless it is the page's newest.
//!
//! # Read replicas
//! A reader's pool follows the writer's redo stream ([`BufferPool::new_follower`]).
//! It knows `applied`, the last MTR applied to it: every MTR up to there
//! reached every open-ended (newest) version it holds. [`BufferPool::apply_mtr`]
//! applies the next whole MTR under the pool's lock: each page it changes
//! whose newest version is open-ended gets a new version at the commit LSN
//! (the old one closes just below it); records for other pages are dropped,
//! and their closed versions stay valid for the snapshots they cover. An image
//! fetched at `S` becomes the open-ended newest version only if `S` is still
//! `applied` when it is inserted (checked under the same lock), so an MTR
//! applied while the read was in flight can never be missed. After a gap in
//! the stream, [`BufferPool::skip_to`] closes every open-ended version at the
//! old point: older snapshots keep them, newer ones read storage again.
//!
//! # Streamed MTRs
//! A big transaction's MTR is sent in chunks without a CPL (see the engine's
//! module docs). Each chunk's pages enter the pool as *streamed* versions
//! ([`BufferPool::insert_streamed`]) keyed by the chunk's LSN, above the
//! VDL: no snapshot can reach them before the final chunk's CPL is durable,
//! since the VDL jumps from below the first chunk to the last. They are on
//! a write quorum when inserted, so unlike other versions above the VDL
//! they may be evicted; the commit pipeline reads them back from storage.
//! A follower's pool never holds them: the stream carries the final chunk
//! and the list of pages earlier chunks changed, whose cached versions
//! [`BufferPool::apply_mtr`] closes.
//!
//! # Eviction
//! Least recently used first, but never a version above the VDL (storage
//! cannot serve it back yet) other than a streamed one. A version an open snapshot needs may go: the
//! snapshot then fetches `GetPage@S` again, so eviction costs time, never
//! correctness. Versions no open snapshot can use (closed below the oldest
//! snapshot) are dropped first.
//!
//! A pool full of versions above the VDL (a large commit whose records are
//! still on their way) has nothing to evict; the scan that finds this is not
//! repeated until the horizons move or a tenth of the pool more was
//! inserted, so a commit of many pages costs linear, not quadratic, time.
//!
//! # Locking
//! One mutex around the map; held only for lookups and inserts, never across
//! I/O.

use std::collections::HashMap;
use std::sync::Mutex;

use sextant_storage::types::{Lsn, PageId, RecordBody, PAGE_SIZE};
use smallvec::SmallVec;

use crate::pages::PageRef;

/// Smallest pool: a B+tree descent and a commit's pages must fit.
pub const POOL_BYTES_MIN: u64 = 256 * PAGE_SIZE as u64;

#[derive(Clone, Debug)]
struct Version {
    image: PageRef,
    /// Last LSN this version is valid at; `None` for the newest version.
    valid_until: Option<Lsn>,
    last_used: u64,
    /// A streamed chunk's version: storage can serve it back although it is
    /// above the VDL (see the module docs).
    streamed: bool,
}

impl Version {
    /// Whether a snapshot at `lsn` may read it (its page LSN is at most
    /// `lsn`, which the caller's range lookup ensures).
    fn valid_at(&self, lsn: Lsn) -> bool {
        self.valid_until.is_none_or(|u| u >= lsn)
    }
}

/// One page's cached versions, by page LSN. Almost always one, held in
/// place in the pool's hash table: a `BTreeMap` per page put a node
/// allocation, and a cache miss, between the table and every image a
/// lookup returns (a point query through an index looks up thousands).
#[derive(Debug, Default)]
struct Versions(SmallVec<[(Lsn, Version); 1]>);

impl Versions {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn iter(&self) -> impl Iterator<Item = (&Lsn, &Version)> {
        self.0.iter().map(|(l, v)| (l, v))
    }

    /// The newest version.
    fn last_mut(&mut self) -> Option<(&Lsn, &mut Version)> {
        self.0.last_mut().map(|(l, v)| (&*l, v))
    }

    fn last(&self) -> Option<(&Lsn, &Version)> {
        self.0.last().map(|(l, v)| (l, v))
    }

    /// The newest version with a page LSN at most `lsn`.
    fn at_or_below(&self, lsn: Lsn) -> Option<(&Lsn, &Version)> {
        let n = self.0.partition_point(|(l, _)| *l <= lsn);
        n.checked_sub(1).map(|i| {
            let (l, v) = &self.0[i];
            (l, v)
        })
    }

    fn at_or_below_mut(&mut self, lsn: Lsn) -> Option<(&Lsn, &mut Version)> {
        let n = self.0.partition_point(|(l, _)| *l <= lsn);
        n.checked_sub(1).map(|i| {
            let (l, v) = &mut self.0[i];
            (&*l, v)
        })
    }

    fn get_mut(&mut self, lsn: &Lsn) -> Option<&mut Version> {
        let i = self.0.binary_search_by_key(lsn, |(l, _)| *l).ok()?;
        Some(&mut self.0[i].1)
    }

    fn contains_key(&self, lsn: &Lsn) -> bool {
        self.0.binary_search_by_key(lsn, |(l, _)| *l).is_ok()
    }

    /// Adds a version at `lsn`, which must not be cached yet.
    fn insert(&mut self, lsn: Lsn, v: Version) {
        let at = self
            .0
            .binary_search_by_key(&lsn, |(l, _)| *l)
            .expect_err("a version is inserted once");
        self.0.insert(at, (lsn, v));
    }

    fn remove(&mut self, lsn: &Lsn) {
        if let Ok(i) = self.0.binary_search_by_key(lsn, |(l, _)| *l) {
            self.0.remove(i);
        }
    }

    fn retain(&mut self, mut keep: impl FnMut(&Lsn, &mut Version) -> bool) {
        self.0.retain(|(l, v)| keep(l, v));
    }

    /// Whether no version is newer than `lsn`.
    fn has_no_later(&self, lsn: Lsn) -> bool {
        self.0.last().is_none_or(|(l, _)| *l <= lsn)
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// Versions of each page by page LSN.
    /// Hashed with FxHash: page ids are not attacker-chosen, and every
    /// page read looks one up under the pool's lock.
    pages: HashMap<PageId, Versions, rustc_hash::FxBuildHasher>,
    versions: u64,
    clock: u64,
    vdl: Lsn,
    oldest_snapshot: Lsn,
    hits: u64,
    misses: u64,
    evictions: u64,
    /// Versions cached when an eviction scan last fell short of its target
    /// (everything else pinned); no new scan until the horizons move or
    /// this many plus a tenth of the pool are cached.
    pinned_at: Option<u64>,
    /// A follower's last applied MTR (see the module docs); `None` on the
    /// writer.
    applied: Option<Lsn>,
}

/// What applying one MTR to a follower's pool did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Pages that got a new version.
    pub pages_applied: u64,
    /// Pages whose records were dropped (not cached, or cached only as a
    /// closed version).
    pub pages_skipped: u64,
    /// Pages earlier chunks of a streamed MTR changed whose newest cached
    /// version was closed.
    pub pages_closed: u64,
}

/// Why an MTR could not be applied to a cached page.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// After its records, the page does not carry the MTR's commit LSN or
    /// fails its checksum: the stream and the cache disagree.
    #[error("page {page} after MTR {lsn}: {detail}")]
    Mismatch {
        /// The page.
        page: PageId,
        /// The MTR's commit LSN.
        lsn: Lsn,
        /// What is wrong.
        detail: String,
    },
}

/// Counters for metrics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Versions cached.
    pub versions: u64,
    /// Lookups served from memory.
    pub hits: u64,
    /// Lookups that missed.
    pub misses: u64,
    /// Versions evicted.
    pub evictions: u64,
}

/// The buffer pool. See the module docs.
#[derive(Debug)]
pub struct BufferPool {
    capacity_versions: u64,
    inner: Mutex<Inner>,
}

impl BufferPool {
    /// A pool holding at most `capacity_bytes` of page images.
    pub fn new(capacity_bytes: u64) -> BufferPool {
        assert!(
            capacity_bytes >= POOL_BYTES_MIN,
            "buffer pool below {POOL_BYTES_MIN} bytes"
        );
        BufferPool {
            capacity_versions: capacity_bytes / PAGE_SIZE as u64,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// A read replica's pool, following the redo stream from `read_point`.
    pub fn new_follower(capacity_bytes: u64, read_point: Lsn) -> BufferPool {
        let pool = BufferPool::new(capacity_bytes);
        {
            let mut inner = pool.inner.lock().expect("pool lock");
            inner.applied = Some(read_point);
            inner.vdl = read_point;
            inner.oldest_snapshot = read_point;
        }
        pool
    }

    /// A follower's last applied MTR.
    pub fn applied(&self) -> Option<Lsn> {
        self.inner.lock().expect("pool lock").applied
    }

    /// Applies one whole MTR, committed at `lsn`, to the cached pages (see
    /// the module docs). `changes` are its records in order, grouped by
    /// page as the writer emits them. `streamed` lists the pages earlier
    /// chunks of a streamed MTR changed: their cached versions are closed at
    /// the last applied MTR instead (their records in `changes`, if any, are
    /// relative to a version this pool never saw). Follower pools only;
    /// `lsn` must be above the last applied MTR.
    pub fn apply_mtr(
        &self,
        lsn: Lsn,
        changes: &[(PageId, RecordBody)],
        streamed: &[PageId],
    ) -> Result<Applied, ApplyError> {
        let mut inner = self.inner.lock().expect("pool lock");
        let applied = inner.applied.expect("apply_mtr on a follower's pool");
        assert!(lsn > applied, "MTR {lsn} not after the applied {applied}");
        inner.clock += 1;
        let clock = inner.clock;
        let mut out = Applied::default();
        let streamed: std::collections::HashSet<PageId> = streamed.iter().copied().collect();
        let mut new_versions: Vec<(PageId, PageRef)> = Vec::new();
        let mut i = 0;
        while i < changes.len() {
            let page = changes[i].0;
            let mut j = i;
            while j < changes.len() && changes[j].0 == page {
                j += 1;
            }
            if streamed.contains(&page) {
                i = j;
                continue;
            }
            let base = inner.pages.get(&page).and_then(|vs| {
                let (_, v) = vs.last()?;
                v.valid_until.is_none().then(|| v.image.clone())
            });
            match base {
                Some(base) => {
                    let mut img = base;
                    let page_img = std::sync::Arc::make_mut(&mut img);
                    for (_, body) in &changes[i..j] {
                        body.apply(&mut page_img[..]);
                    }
                    let got = crate::page::page_lsn(page_img);
                    if got != lsn {
                        return Err(ApplyError::Mismatch {
                            page,
                            lsn,
                            detail: format!("page LSN {got} after applying"),
                        });
                    }
                    crate::page::verify_checksum(page_img).map_err(|e| ApplyError::Mismatch {
                        page,
                        lsn,
                        detail: e.to_string(),
                    })?;
                    new_versions.push((page, img));
                }
                None => out.pages_skipped += 1,
            }
            i = j;
        }
        // All pages checked before any changes: the MTR goes in whole or not
        // at all.
        for page in &streamed {
            let newest = inner
                .pages
                .get_mut(page)
                .and_then(|vs| vs.last_mut())
                .filter(|(_, v)| v.valid_until.is_none());
            if let Some((_, v)) = newest {
                v.valid_until = Some(applied);
                out.pages_closed += 1;
            }
        }
        for (page, image) in new_versions {
            let vs = inner
                .pages
                .get_mut(&page)
                .expect("base version found above");
            let (_, prev) = vs.last_mut().expect("base version");
            prev.valid_until = Some(Lsn(lsn.0 - 1));
            vs.insert(
                lsn,
                Version {
                    image,
                    valid_until: None,
                    last_used: clock,
                    streamed: false,
                },
            );
            inner.versions += 1;
            out.pages_applied += 1;
        }
        inner.applied = Some(lsn);
        self.evict(&mut inner);
        Ok(out)
    }

    /// After a gap in the stream: closes every open-ended version at the
    /// last applied MTR and continues from `lsn` (see the module docs).
    /// Returns how many versions were closed.
    pub fn skip_to(&self, lsn: Lsn) -> u64 {
        let mut inner = self.inner.lock().expect("pool lock");
        let applied = inner.applied.expect("skip_to on a follower's pool");
        assert!(lsn >= applied, "skipping back from {applied} to {lsn}");
        let mut closed = 0;
        for vs in inner.pages.values_mut() {
            if let Some((_, v)) = vs.last_mut() {
                if v.valid_until.is_none() {
                    v.valid_until = Some(applied);
                    closed += 1;
                }
            }
        }
        inner.applied = Some(lsn);
        closed
    }

    /// The version of `page` valid at `lsn`, if cached.
    pub fn get(&self, page: PageId, lsn: Lsn) -> Option<PageRef> {
        let mut inner = self.inner.lock().expect("pool lock");
        inner.clock += 1;
        let clock = inner.clock;
        let found = inner.pages.get_mut(&page).and_then(|vs| {
            let (_, v) = vs.at_or_below_mut(lsn)?;
            if !v.valid_at(lsn) {
                return None;
            }
            v.last_used = clock;
            Some(v.image.clone())
        });
        if found.is_some() {
            inner.hits += 1;
        } else {
            inner.misses += 1;
        }
        found
    }

    /// Whether [`BufferPool::get`] would find `page` at `lsn`; neither
    /// counts as a lookup nor makes the version recently used (readahead
    /// asks this before fetching, and the scan's own read comes later).
    pub fn holds(&self, page: PageId, lsn: Lsn) -> bool {
        let inner = self.inner.lock().expect("pool lock");
        inner
            .pages
            .get(&page)
            .and_then(|vs| vs.at_or_below(lsn))
            .is_some_and(|(_, v)| v.valid_at(lsn))
    }

    /// The newest version of `page`, if cached.
    pub fn get_latest(&self, page: PageId) -> Option<PageRef> {
        let mut inner = self.inner.lock().expect("pool lock");
        inner.clock += 1;
        let clock = inner.clock;
        let found = inner.pages.get_mut(&page).and_then(|vs| {
            let (_, v) = vs.last_mut()?;
            if v.valid_until.is_some() {
                return None;
            }
            v.last_used = clock;
            Some(v.image.clone())
        });
        if found.is_some() {
            inner.hits += 1;
        } else {
            inner.misses += 1;
        }
        found
    }

    /// Caches an image read from storage at `read_at`, whose page LSN is
    /// `page_lsn`. `newest` says no later version exists (the read was at
    /// the VDL and no commit since touched the page).
    pub fn insert_fetched(
        &self,
        page: PageId,
        page_lsn: Lsn,
        read_at: Lsn,
        newest: bool,
        image: PageRef,
    ) {
        assert!(
            page_lsn <= read_at,
            "page {page}: page LSN {page_lsn} above read point {read_at}"
        );
        let mut inner = self.inner.lock().expect("pool lock");
        // A follower's read at its last applied MTR is the newest version:
        // every later MTR will be applied to it.
        let newest = newest || inner.applied == Some(read_at);
        inner.clock += 1;
        let clock = inner.clock;
        let vs = inner.pages.entry(page).or_default();
        let mut added = false;
        let no_later = vs.has_no_later(page_lsn);
        match vs.get_mut(&page_lsn) {
            Some(v) => {
                // Same version seen again: widen what we know of its range.
                if let Some(u) = v.valid_until {
                    v.valid_until = if newest && no_later {
                        None
                    } else {
                        Some(u.max(read_at))
                    };
                }
            }
            None => {
                // No version at `page_lsn` (above), so none at or after it.
                let valid_until = if newest && no_later {
                    None
                } else {
                    Some(read_at)
                };
                vs.insert(
                    page_lsn,
                    Version {
                        image,
                        valid_until,
                        last_used: clock,
                        streamed: false,
                    },
                );
                added = true;
            }
        }
        if added {
            inner.versions += 1;
        }
        self.evict(&mut inner);
    }

    /// Adds the version a commit at `lsn` made, closing the previous newest.
    pub fn insert_committed(&self, page: PageId, lsn: Lsn, image: PageRef) {
        let mut inner = self.inner.lock().expect("pool lock");
        inner.clock += 1;
        let clock = inner.clock;
        let vs = inner.pages.entry(page).or_default();
        if let Some((prev_lsn, prev)) = vs.last_mut() {
            assert!(
                *prev_lsn < lsn,
                "page {page}: commit at {lsn} not after version {prev_lsn}"
            );
            if prev.valid_until.is_none() {
                prev.valid_until = Some(Lsn(lsn.0 - 1));
            }
        }
        vs.insert(
            lsn,
            Version {
                image,
                valid_until: None,
                last_used: clock,
                streamed: false,
            },
        );
        inner.versions += 1;
        self.evict(&mut inner);
    }

    /// Adds (or, after eviction, adds back) the version of `page` a streamed
    /// chunk at `lsn` made, as the newest, closing the previous newest just
    /// below it. The chunk's records must be on a write quorum: the version
    /// may be evicted and read back at once (see the module docs).
    pub fn insert_streamed(&self, page: PageId, lsn: Lsn, image: PageRef) {
        let mut inner = self.inner.lock().expect("pool lock");
        inner.clock += 1;
        let clock = inner.clock;
        let vs = inner.pages.entry(page).or_default();
        if vs.contains_key(&lsn) {
            assert!(
                vs.has_no_later(lsn),
                "page {page}: streamed version {lsn} is not the newest"
            );
            let v = vs.get_mut(&lsn).expect("checked");
            v.valid_until = None;
            v.streamed = true;
            v.last_used = clock;
            return;
        }
        if let Some((prev_lsn, prev)) = vs.last_mut() {
            assert!(
                *prev_lsn < lsn,
                "page {page}: chunk at {lsn} not after version {prev_lsn}"
            );
            if prev.valid_until.is_none() {
                prev.valid_until = Some(Lsn(lsn.0 - 1));
            }
        }
        vs.insert(
            lsn,
            Version {
                image,
                valid_until: None,
                last_used: clock,
                streamed: true,
            },
        );
        inner.versions += 1;
        self.evict(&mut inner);
    }

    /// Forgets every version of `page` (freed pages).
    pub fn forget(&self, page: PageId) {
        let mut inner = self.inner.lock().expect("pool lock");
        if let Some(vs) = inner.pages.remove(&page) {
            inner.versions -= vs.len() as u64;
        }
    }

    /// Tells the pool the VDL (versions above it are pinned) and the oldest
    /// open snapshot (versions closed below it are garbage).
    pub fn set_horizons(&self, vdl: Lsn, oldest_snapshot: Lsn) {
        let mut inner = self.inner.lock().expect("pool lock");
        inner.vdl = vdl;
        inner.oldest_snapshot = oldest_snapshot.min(vdl);
        inner.pinned_at = None;
    }

    /// The most page images it holds, in bytes.
    pub fn capacity_bytes(&self) -> u64 {
        self.capacity_versions * PAGE_SIZE as u64
    }

    /// Counters.
    pub fn stats(&self) -> PoolStats {
        let inner = self.inner.lock().expect("pool lock");
        PoolStats {
            versions: inner.versions,
            hits: inner.hits,
            misses: inner.misses,
            evictions: inner.evictions,
        }
    }

    fn evict(&self, inner: &mut Inner) {
        if inner.versions <= self.capacity_versions {
            return;
        }
        let slack = self.capacity_versions / 10;
        if inner.pinned_at.is_some_and(|n| inner.versions < n + slack) {
            return;
        }
        // First the garbage: versions closed below the oldest snapshot.
        let oldest = inner.oldest_snapshot;
        let mut dropped = 0u64;
        for vs in inner.pages.values_mut() {
            let before = vs.len();
            vs.retain(|_, v| v.valid_until.is_none_or(|u| u >= oldest));
            dropped += (before - vs.len()) as u64;
        }
        inner.pages.retain(|_, vs| !vs.is_empty());
        inner.versions -= dropped;
        inner.evictions += dropped;
        if inner.versions <= self.capacity_versions {
            return;
        }
        // Then least recently used, leaving a tenth of the pool free so this
        // scan runs once per many inserts, not on each.
        let target = self.capacity_versions - self.capacity_versions / 10;
        let vdl = inner.vdl;
        let mut candidates: Vec<(u64, PageId, Lsn)> = inner
            .pages
            .iter()
            .flat_map(|(p, vs)| {
                vs.iter()
                    .filter(|(l, v)| **l <= vdl || v.streamed)
                    .map(move |(l, v)| (v.last_used, *p, *l))
            })
            .collect();
        candidates.sort_unstable();
        let excess = inner.versions.saturating_sub(target) as usize;
        let short = candidates.len() < excess;
        for (_, page, lsn) in candidates.into_iter().take(excess) {
            let vs = inner.pages.get_mut(&page).expect("listed");
            vs.remove(&lsn);
            if vs.is_empty() {
                inner.pages.remove(&page);
            }
            inner.versions -= 1;
            inner.evictions += 1;
        }
        inner.pinned_at = short.then_some(inner.versions);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn img(b: u8) -> PageRef {
        Arc::new([b; PAGE_SIZE])
    }

    /// A sealed page at `lsn` with byte 100 set to `b`.
    fn sealed(lsn: u64, b: u8) -> PageRef {
        let mut img = crate::pages::zeroed_page();
        img[100] = b;
        crate::page::set_page_lsn(&mut img, Lsn(lsn));
        crate::page::seal_checksum(&mut img);
        Arc::from(img)
    }

    fn mtr(page: u64, before: &PageRef, after: &PageRef) -> Vec<(PageId, RecordBody)> {
        crate::redo::diff(&before[..], &after[..])
            .into_iter()
            .map(|b| (PageId(page), b))
            .collect()
    }

    #[test]
    fn a_follower_applies_mtrs_to_newest_versions_only() {
        let pool = BufferPool::new_follower(POOL_BYTES_MIN, Lsn(10));
        let v5 = sealed(5, 1);
        // Page 1 read at the applied point: the newest version.
        pool.insert_fetched(PageId(1), Lsn(5), Lsn(10), false, v5.clone());
        // Page 2 read at an older snapshot: valid only up to it.
        pool.insert_fetched(PageId(2), Lsn(5), Lsn(8), false, v5.clone());
        let v12 = sealed(12, 2);
        let mut changes = mtr(1, &v5, &v12);
        changes.extend(mtr(2, &v5, &v12));
        changes.extend(mtr(3, &v5, &v12));
        let a = pool.apply_mtr(Lsn(12), &changes, &[]).unwrap();
        assert_eq!((a.pages_applied, a.pages_skipped), (1, 2));
        assert_eq!(pool.get(PageId(1), Lsn(12)).unwrap()[100], 2);
        assert_eq!(
            pool.get(PageId(1), Lsn(11)).unwrap()[100],
            1,
            "older snapshots keep theirs"
        );
        assert!(
            pool.get(PageId(2), Lsn(12)).is_none(),
            "not known at 12: read storage"
        );
        assert!(pool.get(PageId(3), Lsn(12)).is_none());
    }

    #[test]
    fn a_read_that_raced_an_mtr_is_not_taken_for_the_newest() {
        let pool = BufferPool::new_follower(POOL_BYTES_MIN, Lsn(10));
        let v5 = sealed(5, 1);
        // An MTR for page 1 arrives while page 1 is being read at 10.
        let v12 = sealed(12, 2);
        pool.apply_mtr(Lsn(12), &mtr(1, &v5, &v12), &[]).unwrap();
        pool.insert_fetched(PageId(1), Lsn(5), Lsn(10), false, v5);
        assert_eq!(pool.get(PageId(1), Lsn(10)).unwrap()[100], 1);
        assert!(
            pool.get(PageId(1), Lsn(12)).is_none(),
            "the image read at 10 must not serve 12"
        );
    }

    #[test]
    fn a_bad_mtr_changes_nothing_and_skipping_closes_every_newest_version() {
        let pool = BufferPool::new_follower(POOL_BYTES_MIN, Lsn(10));
        let v5 = sealed(5, 1);
        pool.insert_fetched(PageId(1), Lsn(5), Lsn(10), false, v5.clone());
        pool.insert_fetched(PageId(2), Lsn(5), Lsn(10), false, v5.clone());
        // Page 2's records claim commit 13 inside an MTR committed at 12.
        let mut changes = mtr(1, &v5, &sealed(12, 2));
        changes.extend(mtr(2, &v5, &sealed(13, 2)));
        assert!(pool.apply_mtr(Lsn(12), &changes, &[]).is_err());
        assert_eq!(pool.get(PageId(1), Lsn(10)).unwrap()[100], 1);
        assert_eq!(pool.applied(), Some(Lsn(10)));
        assert_eq!(pool.skip_to(Lsn(20)), 2);
        assert_eq!(pool.applied(), Some(Lsn(20)));
        assert_eq!(pool.get(PageId(1), Lsn(10)).unwrap()[100], 1);
        assert!(
            pool.get(PageId(1), Lsn(20)).is_none(),
            "the gap may have changed it"
        );
    }

    #[test]
    fn streamed_versions_are_hidden_below_their_chunk_and_evictable() {
        let pool = BufferPool::new(POOL_BYTES_MIN);
        let cap = POOL_BYTES_MIN / PAGE_SIZE as u64;
        pool.insert_committed(PageId(1), Lsn(10), img(1));
        pool.set_horizons(Lsn(10), Lsn(10));
        // A chunk at 20, above the VDL: the newest for the commit pipeline,
        // invisible to the snapshot at 10.
        pool.insert_streamed(PageId(1), Lsn(20), img(2));
        assert_eq!(pool.get(PageId(1), Lsn(10)).unwrap()[0], 1);
        assert_eq!(pool.get_latest(PageId(1)).unwrap()[0], 2);
        // Streamed versions do not pin the pool, unlike committed ones.
        for i in 0..cap * 2 {
            pool.insert_streamed(PageId(100 + i), Lsn(30 + i), img(3));
        }
        assert!(pool.stats().versions <= cap);
        // Read back after eviction: newest again, the older one stays closed.
        pool.insert_streamed(PageId(1), Lsn(20), img(2));
        assert_eq!(pool.get_latest(PageId(1)).unwrap()[0], 2);
        // (The version at 10 may have been evicted, never replaced.)
        assert!(pool.get(PageId(1), Lsn(19)).is_none_or(|p| p[0] == 1));
        // The final part closes it.
        pool.insert_committed(PageId(1), Lsn(500), img(4));
        assert_eq!(pool.get(PageId(1), Lsn(499)).unwrap()[0], 2);
        assert_eq!(pool.get_latest(PageId(1)).unwrap()[0], 4);
    }

    #[test]
    fn a_follower_closes_pages_earlier_chunks_changed() {
        let pool = BufferPool::new_follower(POOL_BYTES_MIN, Lsn(10));
        let v5 = sealed(5, 1);
        pool.insert_fetched(PageId(1), Lsn(5), Lsn(10), false, v5.clone());
        pool.insert_fetched(PageId(2), Lsn(5), Lsn(10), false, v5.clone());
        // The final chunk at 40 changes page 2 relative to a chunk's
        // version this pool never saw, and page 1 only in an earlier chunk.
        let changes = mtr(2, &sealed(30, 7), &sealed(40, 8));
        let a = pool
            .apply_mtr(Lsn(40), &changes, &[PageId(1), PageId(2)])
            .unwrap();
        assert_eq!((a.pages_applied, a.pages_closed), (0, 2));
        for p in [PageId(1), PageId(2)] {
            assert_eq!(
                pool.get(p, Lsn(10)).unwrap()[100],
                1,
                "old snapshots keep it"
            );
            assert!(pool.get(p, Lsn(40)).is_none(), "read from storage at 40");
        }
        assert_eq!(pool.applied(), Some(Lsn(40)));
    }

    #[test]
    fn snapshots_see_the_version_valid_at_their_lsn() {
        let pool = BufferPool::new(POOL_BYTES_MIN);
        pool.insert_committed(PageId(1), Lsn(10), img(1));
        pool.insert_committed(PageId(1), Lsn(20), img(2));
        assert!(pool.get(PageId(1), Lsn(9)).is_none());
        assert_eq!(pool.get(PageId(1), Lsn(10)).unwrap()[0], 1);
        assert_eq!(pool.get(PageId(1), Lsn(19)).unwrap()[0], 1);
        assert_eq!(pool.get(PageId(1), Lsn(25)).unwrap()[0], 2);
        assert_eq!(pool.get_latest(PageId(1)).unwrap()[0], 2);
    }

    #[test]
    fn an_image_fetched_at_an_old_lsn_is_not_used_later() {
        let pool = BufferPool::new(POOL_BYTES_MIN);
        pool.insert_fetched(PageId(1), Lsn(5), Lsn(8), false, img(1));
        assert_eq!(pool.get(PageId(1), Lsn(7)).unwrap()[0], 1);
        assert!(
            pool.get(PageId(1), Lsn(9)).is_none(),
            "validity past the read point is unknown"
        );
        assert!(pool.get_latest(PageId(1)).is_none());
        pool.insert_fetched(PageId(1), Lsn(5), Lsn(30), true, img(1));
        assert_eq!(pool.get(PageId(1), Lsn(100)).unwrap()[0], 1);
    }

    #[test]
    fn eviction_keeps_versions_above_the_vdl() {
        let pool = BufferPool::new(POOL_BYTES_MIN);
        let cap = POOL_BYTES_MIN / PAGE_SIZE as u64;
        pool.set_horizons(Lsn(0), Lsn(0));
        for i in 0..cap * 2 {
            pool.insert_committed(PageId(i), Lsn(i + 1), img(1));
        }
        // Nothing is durable: everything stays.
        assert_eq!(pool.stats().versions, cap * 2);
        pool.set_horizons(Lsn(cap * 2), Lsn(cap * 2));
        pool.insert_committed(PageId(0), Lsn(cap * 2 + 1), img(2));
        assert!(pool.stats().versions <= cap);
        assert_eq!(pool.get_latest(PageId(0)).unwrap()[0], 2);
    }

    #[test]
    fn a_pool_of_pinned_versions_still_evicts_once_they_are_durable() {
        let pool = BufferPool::new(POOL_BYTES_MIN);
        let cap = POOL_BYTES_MIN / PAGE_SIZE as u64;
        pool.set_horizons(Lsn(0), Lsn(0));
        // Far more pinned versions than the pool holds, as a big commit makes.
        for i in 0..cap * 4 {
            pool.insert_committed(PageId(i), Lsn(i + 1), img(1));
        }
        assert_eq!(pool.stats().versions, cap * 4);
        // Fetched versions at or below the VDL stay evictable meanwhile.
        pool.set_horizons(Lsn(10), Lsn(10));
        for i in 0..cap {
            pool.insert_fetched(PageId(100_000 + i), Lsn(1), Lsn(5), false, img(3));
        }
        assert!(pool.stats().versions < cap * 4 + cap / 5);
        // Once durable, the next insert brings the pool back under its size.
        pool.set_horizons(Lsn(cap * 4), Lsn(cap * 4));
        pool.insert_committed(PageId(0), Lsn(cap * 4 + 1), img(2));
        assert!(pool.stats().versions <= cap);
    }
}
