//! How the engine's data structures reach pages.
//!
//! A B+tree never talks to the buffer pool or the storage service directly:
//! it reads through [`Pages`] (one consistent version of the volume, a
//! snapshot) and changes pages through [`PagesMut`] (the pages of one
//! mini-transaction being built, copy-on-write). The buffer pool and the
//! commit pipeline implement these over `GetPage@LSN` and redo records;
//! [`MemPages`] implements them over a plain map, for tests of the trees.
//!
//! The traits are synchronous on purpose: tree code is CPU work over cached
//! pages, and the rare miss that must go to storage is the implementation's
//! business (see the buffer pool).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::page::SlottedPageMut;

pub use sextant_storage::types::{PageId, PAGE_SIZE};

/// The bytes of one page.
pub type PageImage = [u8; PAGE_SIZE];
/// A shared, immutable page version.
pub type PageRef = Arc<PageImage>;

/// A zeroed page image on the heap.
pub fn zeroed_page() -> Box<PageImage> {
    vec![0u8; PAGE_SIZE]
        .into_boxed_slice()
        .try_into()
        .expect("PAGE_SIZE bytes")
}

/// Why a page could not be had.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PageError {
    /// The storage service could not serve the page.
    #[error("read page {page}: {detail}")]
    Storage {
        /// The page.
        page: PageId,
        /// What storage said.
        detail: String,
    },
    /// The page's bytes fail their checks.
    #[error("page {page} is corrupt: {detail}")]
    Corrupted {
        /// The page.
        page: PageId,
        /// Which check failed.
        detail: String,
    },
    /// No page could be allocated (the volume's limit).
    #[error("volume full: no page can be allocated past {0}")]
    VolumeFull(PageId),
}

/// Read access to one consistent version of the volume.
pub trait Pages {
    /// Reads page `id`.
    fn get(&self, id: PageId) -> Result<PageRef, PageError>;
    /// Reads page `id`, and whether its bytes are known to pass
    /// [`crate::page::SlottedPage::parse`]'s checks already, so a reader
    /// may skip them: an MTR's own copy of a page it checked and changed
    /// only through a `SlottedPageMut` since. Never true for bytes read
    /// from storage or the pool.
    fn get_checked(&self, id: PageId) -> Result<(PageRef, bool), PageError> {
        Ok((self.get(id)?, false))
    }
    /// Says that pages `ids` will be read soon. A source that reads them
    /// from storage fetches the ones it lacks together (concurrent
    /// requests, one wait) rather than one round trip each when `get`
    /// comes. Only a hint: failures are left for `get` to report.
    fn prefetch(&self, ids: &[PageId]) {
        let _ = ids;
    }
}

/// Write access: the pages one mini-transaction changes.
pub trait PagesMut: Pages {
    /// A mutable copy of page `id` owned by this MTR; later `get`s of the
    /// same page see the changes.
    fn get_mut(&mut self, id: PageId) -> Result<&mut PageImage, PageError>;
    /// A fresh, zeroed page (a freed page is reused first).
    fn allocate(&mut self) -> Result<PageId, PageError>;
    /// Page `id` as a slotted page to change, validated as
    /// [`SlottedPageMut::parse`] does. Implementations may skip the checks
    /// for a page they checked before and that changed only through a
    /// `SlottedPageMut` since.
    fn slotted_mut(&mut self, id: PageId) -> Result<SlottedPageMut<'_>, PageError> {
        SlottedPageMut::parse(id, self.get_mut(id)?)
    }
    /// Returns a page to the free list. Its contents are undefined after.
    fn free(&mut self, id: PageId) -> Result<(), PageError>;
}

/// Pages in a map: the whole volume in memory, for tests of page structures.
/// Pages never written read as zeros.
#[derive(Clone, Debug, Default)]
pub struct MemPages {
    pages: HashMap<PageId, PageRef>,
    dirty: HashMap<PageId, Box<PageImage>>,
    free: BTreeSet<PageId>,
    next: u64,
}

impl MemPages {
    /// An empty volume whose first allocatable page is `first`.
    pub fn new(first: PageId) -> MemPages {
        MemPages {
            next: first.0,
            ..Default::default()
        }
    }

    /// Pages allocated and not freed.
    pub fn live_pages(&self) -> usize {
        (self.next as usize).saturating_sub(self.free.len())
    }

    /// Pages on the free list.
    pub fn free_pages(&self) -> usize {
        self.free.len()
    }
}

impl Pages for MemPages {
    fn get(&self, id: PageId) -> Result<PageRef, PageError> {
        if let Some(p) = self.dirty.get(&id) {
            return Ok(Arc::new(**p));
        }
        Ok(self
            .pages
            .get(&id)
            .cloned()
            .unwrap_or_else(|| Arc::new([0u8; PAGE_SIZE])))
    }
}

impl PagesMut for MemPages {
    fn get_mut(&mut self, id: PageId) -> Result<&mut PageImage, PageError> {
        if !self.dirty.contains_key(&id) {
            let base = self
                .pages
                .remove(&id)
                .map(|p| Box::new(*p))
                .unwrap_or_else(zeroed_page);
            self.dirty.insert(id, base);
        }
        Ok(self.dirty.get_mut(&id).expect("inserted above"))
    }

    fn allocate(&mut self) -> Result<PageId, PageError> {
        let id = match self.free.pop_first() {
            Some(id) => id,
            None => {
                let id = PageId(self.next);
                self.next += 1;
                id
            }
        };
        self.pages.remove(&id);
        self.dirty.insert(id, zeroed_page());
        Ok(id)
    }

    fn free(&mut self, id: PageId) -> Result<(), PageError> {
        assert!(
            id.0 < self.next,
            "freeing page {id} that was never allocated"
        );
        assert!(self.free.insert(id), "page {id} freed twice");
        self.dirty.remove(&id);
        self.pages.remove(&id);
        Ok(())
    }
}
