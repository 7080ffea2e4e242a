//! Page access over the buffer pool and the storage service.
//!
//! * [`SnapshotPages`]: one snapshot's view (a read point `S ≤ VDL`): the
//!   cached version valid at `S`, else `GetPage@S` from one replica.
//! * [`LatestPages`]: the commit pipeline's view, the newest version of
//!   every page, including commits not yet durable (those are pinned in the
//!   pool; anything evicted is at or below the VDL and fetched there).
//! * [`MtrPages`]: the pages one commit changes, copy-on-write over
//!   `LatestPages`, with page allocation through the superblock's free list.
//!   [`MtrPages::finish`] turns them into redo records. A big transaction's
//!   MTR is sealed in chunks ([`MtrPages::finish_chunk`]) that leave memory
//!   once written: the MTR then reads those pages back at the LSN of their
//!   chunk's last record for them (their streamed version, cached in the
//!   pool while room allows), never at the VDL, which is below every chunk.
//!
//! Tree code is synchronous; a miss blocks its thread on the storage read
//! with `block_in_place`, so the engine must run on tokio's multi-threaded
//! runtime. Misses are the exception: hot pages stay cached.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use sextant_storage::types::{Lsn, PageId, RecordBody};
use sextant_storage::volume::Volume;

use crate::bufpool::BufferPool;
use crate::page;
use crate::page::SlottedPageMut;
use crate::pages::{zeroed_page, PageError, PageImage, PageRef, Pages, PagesMut};
use crate::redo;
use crate::superblock::{self, Superblock, SUPERBLOCK_PAGE};

fn fetch(volume: &Volume, page: PageId, lsn: Lsn) -> Result<PageRef, PageError> {
    let handle = tokio::runtime::Handle::current();
    tokio::task::block_in_place(|| handle.block_on(fetch_async(volume, page, lsn)))
}

/// Reads `page` as of `lsn` from storage and checks it.
async fn fetch_async(volume: &Volume, page: PageId, lsn: Lsn) -> Result<PageRef, PageError> {
    let image = volume
        .get_page(page, lsn)
        .await
        .map_err(|e| PageError::Storage {
            page,
            detail: e.to_string(),
        })?;
    let img: PageRef = Arc::new(image[..].try_into().map_err(|_| PageError::Corrupted {
        page,
        detail: format!("{} bytes, not a page", image.len()),
    })?);
    if img.iter().any(|b| *b != 0) {
        page::verify_checksum(&img).map_err(|e| PageError::Corrupted {
            page,
            detail: e.to_string(),
        })?;
    }
    Ok(img)
}

/// One snapshot's view of the volume.
#[derive(Clone)]
pub struct SnapshotPages {
    pool: Arc<BufferPool>,
    volume: Volume,
    lsn: Lsn,
}

impl SnapshotPages {
    /// The view at `lsn` (at most the VDL).
    pub fn new(pool: Arc<BufferPool>, volume: Volume, lsn: Lsn) -> SnapshotPages {
        SnapshotPages { pool, volume, lsn }
    }

    /// The read point.
    pub fn lsn(&self) -> Lsn {
        self.lsn
    }
}

impl Pages for SnapshotPages {
    fn get(&self, id: PageId) -> Result<PageRef, PageError> {
        if let Some(p) = self.pool.get(id, self.lsn) {
            return Ok(p);
        }
        let img = fetch(&self.volume, id, self.lsn)?;
        let page_lsn = page::page_lsn(&img);
        if page_lsn > self.lsn {
            return Err(PageError::Corrupted {
                page: id,
                detail: format!("page LSN {page_lsn} above read point {}", self.lsn),
            });
        }
        self.pool
            .insert_fetched(id, page_lsn, self.lsn, false, img.clone());
        Ok(img)
    }

    fn prefetch(&self, ids: &[PageId]) {
        let missing: Vec<PageId> = ids
            .iter()
            .copied()
            .filter(|&id| !self.pool.holds(id, self.lsn))
            .collect();
        if missing.is_empty() {
            return;
        }
        let handle = tokio::runtime::Handle::current();
        let fetched = tokio::task::block_in_place(|| {
            handle.block_on(futures_util::future::join_all(
                missing
                    .iter()
                    .map(|&id| fetch_async(&self.volume, id, self.lsn)),
            ))
        });
        for (id, img) in missing.into_iter().zip(fetched) {
            // Failures are `get`'s to report, when the page is read.
            let Ok(img) = img else { continue };
            let page_lsn = page::page_lsn(&img);
            if page_lsn <= self.lsn {
                self.pool.insert_fetched(id, page_lsn, self.lsn, false, img);
            }
        }
    }
}

/// The newest version of every page, as the commit pipeline sees it.
#[derive(Clone)]
pub struct LatestPages {
    pool: Arc<BufferPool>,
    volume: Volume,
}

impl LatestPages {
    /// The view over `pool` and `volume`.
    pub fn new(pool: Arc<BufferPool>, volume: Volume) -> LatestPages {
        LatestPages { pool, volume }
    }
}

impl Pages for LatestPages {
    fn get(&self, id: PageId) -> Result<PageRef, PageError> {
        if let Some(p) = self.pool.get_latest(id) {
            return Ok(p);
        }
        // Not cached, so its newest version is durable (versions above the
        // VDL are pinned): read it at the VDL.
        let vdl = self.volume.vdl();
        let img = fetch(&self.volume, id, vdl)?;
        let page_lsn = page::page_lsn(&img);
        self.pool
            .insert_fetched(id, page_lsn, vdl, true, img.clone());
        Ok(img)
    }
}

#[derive(Clone)]
struct Dirty {
    before: PageRef,
    after: PageRef,
    /// `after` passed `SlottedPageMut::parse`'s checks and changed only
    /// through a `SlottedPageMut` since.
    checked: bool,
}

/// The pages one MTR changes. See the module docs.
pub struct MtrPages {
    latest: LatestPages,
    sb: Superblock,
    sb_dirty: bool,
    dirty: BTreeMap<PageId, Dirty>,
    /// Counts calls that may change a page or the superblock.
    changes: u64,
    /// Pages earlier chunks of this MTR changed, with the LSN to read their
    /// newest version at: the last record for the page in the last chunk
    /// that changed it (its PG's replicas are complete up to there, while
    /// the chunk's own last LSN may lie in another PG).
    streamed: HashMap<PageId, Lsn>,
    /// Pages of the chunk sent last, until it is known to be on a write
    /// quorum (at most one chunk is in flight): their images, and the LSN of
    /// the chunk's last record for each. Reads find them here meanwhile.
    in_flight: HashMap<PageId, (PageRef, Lsn)>,
}

/// An MTR's state at one point, to return to when one transaction of a
/// commit group fails after changing pages (see [`MtrPages::checkpoint`]).
pub struct MtrCheckpoint {
    sb: Superblock,
    sb_dirty: bool,
    dirty: BTreeMap<PageId, Dirty>,
}

impl MtrPages {
    /// Starts an MTR over the newest state, with the current superblock.
    pub fn new(latest: LatestPages, sb: Superblock) -> MtrPages {
        MtrPages {
            latest,
            sb,
            sb_dirty: false,
            dirty: BTreeMap::new(),
            changes: 0,
            streamed: HashMap::new(),
            in_flight: HashMap::new(),
        }
    }

    /// The state now. Cheap: pages are shared until changed again, when
    /// copy-on-write copies them once.
    pub fn checkpoint(&self) -> MtrCheckpoint {
        MtrCheckpoint {
            sb: self.sb.clone(),
            sb_dirty: self.sb_dirty,
            dirty: self.dirty.clone(),
        }
    }

    /// Returns to a checkpoint: every change since is forgotten. Chunks sent
    /// since cannot be taken back this way.
    pub fn restore(&mut self, cp: MtrCheckpoint) {
        assert!(
            self.streamed.is_empty() && self.in_flight.is_empty(),
            "restoring an MTR that streamed chunks"
        );
        self.sb = cp.sb;
        self.sb_dirty = cp.sb_dirty;
        self.dirty = cp.dirty;
        self.changes += 1;
    }

    /// A counter that moves whenever a page or the superblock may have
    /// changed: equal readings mean nothing was touched in between.
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// The superblock as this MTR has changed it.
    pub fn superblock(&self) -> &Superblock {
        &self.sb
    }

    /// Changes the superblock.
    pub fn superblock_mut(&mut self) -> &mut Superblock {
        self.sb_dirty = true;
        self.changes += 1;
        &mut self.sb
    }

    /// Pages changed so far and held in memory (not yet sent in a chunk).
    pub fn page_count(&self) -> usize {
        self.dirty.len()
    }

    /// Pages held in memory: those changed since the last chunk and those
    /// of the chunk in flight.
    pub fn held_count(&self) -> usize {
        self.dirty.len() + self.in_flight.len()
    }

    /// Pages that chunks of this MTR sent already changed, in page order.
    pub fn streamed_pages(&self) -> Vec<PageId> {
        let mut pages: Vec<PageId> = self
            .streamed
            .keys()
            .chain(self.in_flight.keys())
            .copied()
            .collect();
        pages.sort_unstable();
        pages.dedup();
        pages
    }

    /// Seals the pages changed so far (the superblock stays in memory, for
    /// the final part) as one chunk at the LSN `lsn_for` gives for its
    /// number of records, and forgets them. The caller sends the records
    /// without a CPL, hands the pages back with [`MtrPages::chunk_sent`]
    /// and, once they are on a write quorum, calls
    /// [`MtrPages::chunk_settled`]. Returns `None` when nothing changed.
    pub fn finish_chunk(
        &mut self,
        lsn_for: impl FnOnce(usize) -> Lsn,
    ) -> Result<Option<FinishedMtr>, PageError> {
        if self.dirty.is_empty() {
            return Ok(None);
        }
        debug_assert!(!self.dirty.contains_key(&SUPERBLOCK_PAGE));
        let dirty = std::mem::take(&mut self.dirty);
        self.changes += 1;
        let (records, images, last_records) = seal(dirty, lsn_for);
        Ok(Some(FinishedMtr {
            records,
            images,
            last_records,
            superblock: self.sb.clone(),
        }))
    }

    /// Holds the pages of a chunk just sent, each with the LSN of the
    /// chunk's last record for it, until [`MtrPages::chunk_settled`]: the
    /// next chunk is built while this one is being written, and reads its
    /// pages from here meanwhile. One chunk at a time.
    pub fn chunk_sent(&mut self, pages: impl IntoIterator<Item = (PageId, PageRef, Lsn)>) {
        assert!(self.in_flight.is_empty(), "a chunk is in flight already");
        self.in_flight
            .extend(pages.into_iter().map(|(id, img, last)| (id, (img, last))));
    }

    /// The chunk in flight is on a write quorum: its pages leave the MTR,
    /// which reads them back at their last record from now on (they may be
    /// evicted). Returns the versions for the pool to cache: those of pages
    /// the MTR holds no newer change of.
    pub fn chunk_settled(&mut self) -> Vec<(PageId, PageRef)> {
        let mut cache = Vec::with_capacity(self.in_flight.len());
        for (id, (img, last)) in self.in_flight.drain() {
            self.streamed.insert(id, last);
            if !self.dirty.contains_key(&id) {
                cache.push((id, img));
            }
        }
        cache
    }

    /// The newest version of `id` outside this MTR's held pages.
    fn newest(&self, id: PageId) -> Result<PageRef, PageError> {
        if let Some((img, _)) = self.in_flight.get(&id) {
            return Ok(img.clone());
        }
        let Some(&at) = self.streamed.get(&id) else {
            return self.latest.get(id);
        };
        if let Some(p) = self.latest.pool.get_latest(id) {
            return Ok(p);
        }
        let img = fetch(&self.latest.volume, id, at)?;
        self.latest
            .pool
            .insert_streamed(id, page::page_lsn(&img), img.clone());
        Ok(img)
    }

    /// True if nothing changed.
    pub fn is_empty(&self) -> bool {
        self.dirty.is_empty() && !self.sb_dirty
    }

    /// Seals every changed page at `commit_lsn` and returns the redo records
    /// (one per page: its changed ranges packed, or its image), the new page
    /// images, and the superblock. The number of
    /// records does not depend on `commit_lsn`: see [`MtrPages::finish_with`].
    pub fn finish(self, commit_lsn: Lsn) -> Result<FinishedMtr, PageError> {
        self.finish_with(|_| commit_lsn)
    }

    /// [`MtrPages::finish`] at the LSN `lsn_for` gives for the number of
    /// records, diffing each page once (the commit pipeline learns its LSN
    /// from the count).
    pub fn finish_with(
        mut self,
        lsn_for: impl FnOnce(usize) -> Lsn,
    ) -> Result<FinishedMtr, PageError> {
        self.write_superblock()?;
        let (records, images, last_records) = seal(self.dirty, lsn_for);
        Ok(FinishedMtr {
            records,
            images,
            last_records,
            superblock: self.sb,
        })
    }

    fn write_superblock(&mut self) -> Result<(), PageError> {
        if self.sb_dirty {
            let sb = self.sb.clone();
            sb.encode(self.get_mut(SUPERBLOCK_PAGE)?);
            self.sb_dirty = false;
        }
        Ok(())
    }
}

/// Seals `dirty` at the LSN `lsn_for` gives for the number of records:
/// the records, the new images, and for each image the LSN of its page's
/// last record.
#[allow(clippy::type_complexity)]
fn seal(
    dirty: BTreeMap<PageId, Dirty>,
    lsn_for: impl FnOnce(usize) -> Lsn,
) -> (Vec<(PageId, RecordBody)>, Vec<(PageId, PageRef)>, Vec<Lsn>) {
    // One record per changed page, whatever changed in it, so the count (and
    // so the LSN) is known before sealing: seal each page at the commit LSN,
    // then diff it whole (header included).
    let count = dirty.len();
    let commit_lsn = lsn_for(count);
    let first = (commit_lsn.0 + 1).saturating_sub(count as u64);
    let mut records = Vec::with_capacity(count);
    let mut images = Vec::with_capacity(count);
    let mut last_records = Vec::with_capacity(count);
    for (id, d) in dirty {
        let mut after = d.after;
        let img = Arc::make_mut(&mut after);
        page::set_page_lsn(img, commit_lsn);
        page::seal_checksum(img);
        let body = redo::diff(&d.before[..], &after[..])
            .expect("sealing at a new LSN changes the page header");
        last_records.push(Lsn(first + records.len() as u64));
        records.push((id, body));
        images.push((id, after));
    }
    (records, images, last_records)
}

/// What a finished MTR produced.
pub struct FinishedMtr {
    /// Redo records in page order.
    pub records: Vec<(PageId, RecordBody)>,
    /// The new version of each changed page.
    pub images: Vec<(PageId, PageRef)>,
    /// For each of `images`, the LSN of its page's last record.
    pub last_records: Vec<Lsn>,
    /// The superblock after the MTR.
    pub superblock: Superblock,
}

impl Pages for MtrPages {
    fn get(&self, id: PageId) -> Result<PageRef, PageError> {
        match self.dirty.get(&id) {
            Some(d) => Ok(d.after.clone()),
            None => self.newest(id),
        }
    }

    fn get_checked(&self, id: PageId) -> Result<(PageRef, bool), PageError> {
        match self.dirty.get(&id) {
            // `checked`: passed `SlottedPageMut::check`, a superset of
            // `SlottedPage::parse`'s checks, and changed only through a
            // `SlottedPageMut` since.
            Some(d) => Ok((d.after.clone(), d.checked)),
            None => Ok((self.newest(id)?, false)),
        }
    }
}

impl MtrPages {
    /// The MTR's copy of page `id`, made on first use.
    fn dirty_mut(&mut self, id: PageId) -> Result<&mut Dirty, PageError> {
        self.changes += 1;
        if !self.dirty.contains_key(&id) {
            let before = self.newest(id)?;
            self.dirty.insert(
                id,
                Dirty {
                    before: before.clone(),
                    after: before,
                    checked: false,
                },
            );
        }
        Ok(self.dirty.get_mut(&id).expect("inserted above"))
    }
}

impl PagesMut for MtrPages {
    fn get_mut(&mut self, id: PageId) -> Result<&mut PageImage, PageError> {
        let d = self.dirty_mut(id)?;
        d.checked = false;
        Ok(Arc::make_mut(&mut d.after))
    }

    fn slotted_mut(&mut self, id: PageId) -> Result<SlottedPageMut<'_>, PageError> {
        let d = self.dirty_mut(id)?;
        if !d.checked {
            SlottedPageMut::check(id, &d.after)?;
            d.checked = true;
        }
        Ok(SlottedPageMut::checked_before(
            id,
            Arc::make_mut(&mut d.after),
        ))
    }

    fn allocate(&mut self) -> Result<PageId, PageError> {
        let id = if self.sb.free_head != PageId(0) {
            let id = self.sb.free_head;
            let next = superblock::free_next(&*self.get(id)?);
            let sb = self.superblock_mut();
            sb.free_head = next;
            sb.free_count -= 1;
            id
        } else {
            let sb = self.superblock_mut();
            let id = sb.next_page;
            sb.next_page = PageId(id.0 + 1);
            // Never written: zeros, and perhaps in a PG that does not exist
            // yet (the volume grows when this MTR's records reach it).
            let zero: PageRef = Arc::from(zeroed_page());
            self.changes += 1;
            self.dirty.insert(
                id,
                Dirty {
                    before: zero.clone(),
                    after: zero,
                    checked: false,
                },
            );
            return Ok(id);
        };
        self.get_mut(id)?.fill(0);
        Ok(id)
    }

    fn free(&mut self, id: PageId) -> Result<(), PageError> {
        assert!(
            id != SUPERBLOCK_PAGE && id.0 < self.sb.next_page.0,
            "freeing page {id} outside the volume"
        );
        let head = self.sb.free_head;
        superblock::set_free(self.get_mut(id)?, head);
        let sb = self.superblock_mut();
        sb.free_head = id;
        sb.free_count += 1;
        Ok(())
    }
}
