//! Page access over the buffer pool and the storage service.
//!
//! * [`SnapshotPages`]: one snapshot's view (a read point `S ≤ VDL`): the
//!   cached version valid at `S`, else `GetPage@S` from one replica.
//! * [`LatestPages`]: the commit pipeline's view, the newest version of
//!   every page, including commits not yet durable (those are pinned in the
//!   pool; anything evicted is at or below the VDL and fetched there).
//! * [`MtrPages`]: the pages one commit changes, copy-on-write over
//!   `LatestPages`, with page allocation through the superblock's free list.
//!   [`MtrPages::finish`] turns them into redo records.
//!
//! Tree code is synchronous; a miss blocks its thread on the storage read
//! with `block_in_place`, so the engine must run on tokio's multi-threaded
//! runtime. Misses are the exception: hot pages stay cached.

use std::collections::BTreeMap;
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
    let image = tokio::task::block_in_place(|| handle.block_on(volume.get_page(page, lsn)))
        .map_err(|e| PageError::Storage {
            page,
            detail: e.to_string(),
        })?;
    let mut img = zeroed_page();
    img.copy_from_slice(&image);
    if img.iter().any(|b| *b != 0) {
        page::verify_checksum(&img).map_err(|e| PageError::Corrupted {
            page,
            detail: e.to_string(),
        })?;
    }
    Ok(Arc::from(img))
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

    /// Returns to a checkpoint: every change since is forgotten.
    pub fn restore(&mut self, cp: MtrCheckpoint) {
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

    /// Pages changed so far.
    pub fn page_count(&self) -> usize {
        self.dirty.len()
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
        // One record per changed page, whatever changed in it, so the count
        // (and so the LSN) is known before sealing: seal each page at the
        // commit LSN, then diff it whole (header included).
        let commit_lsn = lsn_for(self.dirty.len());
        let count = self.dirty.len();
        let mut records = Vec::with_capacity(count);
        let mut images = Vec::with_capacity(count);
        for (id, d) in self.dirty {
            let mut after = d.after;
            let img = Arc::make_mut(&mut after);
            page::set_page_lsn(img, commit_lsn);
            page::seal_checksum(img);
            let body = redo::diff(&d.before[..], &after[..])
                .expect("sealing at a new LSN changes the page header");
            records.push((id, body));
            images.push((id, after));
        }
        debug_assert_eq!(records.len(), count);
        Ok(FinishedMtr {
            records,
            images,
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

/// What a finished MTR produced.
pub struct FinishedMtr {
    /// Redo records in page order.
    pub records: Vec<(PageId, RecordBody)>,
    /// The new version of each changed page.
    pub images: Vec<(PageId, PageRef)>,
    /// The superblock after the MTR.
    pub superblock: Superblock,
}

impl Pages for MtrPages {
    fn get(&self, id: PageId) -> Result<PageRef, PageError> {
        match self.dirty.get(&id) {
            Some(d) => Ok(d.after.clone()),
            None => self.latest.get(id),
        }
    }
}

impl MtrPages {
    /// The MTR's copy of page `id`, made on first use.
    fn dirty_mut(&mut self, id: PageId) -> Result<&mut Dirty, PageError> {
        self.changes += 1;
        if !self.dirty.contains_key(&id) {
            let before = self.latest.get(id)?;
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
