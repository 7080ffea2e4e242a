//! Page 0: the superblock, the root of everything the writer keeps.
//!
//! It records where the catalog's B+tree lives, how far the volume's pages
//! are allocated, the head of the free-page list, and the protection-group
//! map (pages per PG; the volume holds `ceil(next_page / pages_per_pg)` PGs,
//! grown by the volume client as pages past the last PG are first written).
//! It is an ordinary page: changed in an MTR, logged, versioned, read by
//! readers at their LSN. Layout (after the common page header):
//!
//! ```text
//! (little-endian, like every page)
//! magic u32 "SXSB" | format u32 | catalog_root u64 | next_page u64
//! free_head u64 | free_count u64 | pages_per_pg u64 | next_object_id u64
//! ```

use sextant_storage::types::PageId;

use crate::page::{self, PageType};
use crate::pages::PageImage;

/// "SXSB".
pub const SUPERBLOCK_MAGIC: u32 = 0x5358_5342;
/// Version of this layout.
pub const SUPERBLOCK_FORMAT: u32 = 1;
/// The superblock's page.
pub const SUPERBLOCK_PAGE: PageId = PageId(0);

/// The superblock's fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Superblock {
    /// Root of the catalog B+tree.
    pub catalog_root: PageId,
    /// First never-allocated page.
    pub next_page: PageId,
    /// Head of the free-page list (`PageId(0)` when empty).
    pub free_head: PageId,
    /// Pages on the free list.
    pub free_count: u64,
    /// Pages per protection group.
    pub pages_per_pg: u64,
    /// Next id for a table or index.
    pub next_object_id: u64,
}

/// A superblock that cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SuperblockError {
    /// Page 0 was never written: a new volume.
    #[error("volume is empty")]
    Empty,
    /// Page 0 is not a superblock of ours.
    #[error("page 0 is not a Sextant superblock: {0}")]
    Corrupted(String),
}

const BODY: usize = page::PAGE_HEADER_BYTES;

fn get_u64(img: &PageImage, at: usize) -> u64 {
    u64::from_le_bytes(img[at..at + 8].try_into().expect("8 bytes"))
}

impl Superblock {
    /// Reads page 0.
    pub fn decode(img: &PageImage) -> Result<Superblock, SuperblockError> {
        if img.iter().all(|b| *b == 0) {
            return Err(SuperblockError::Empty);
        }
        page::verify_checksum(img).map_err(|e| SuperblockError::Corrupted(e.to_string()))?;
        if page::page_type(SUPERBLOCK_PAGE, img).ok() != Some(PageType::Superblock) {
            return Err(SuperblockError::Corrupted("wrong page type".into()));
        }
        let magic = u32::from_le_bytes(img[BODY..BODY + 4].try_into().expect("4 bytes"));
        let format = u32::from_le_bytes(img[BODY + 4..BODY + 8].try_into().expect("4 bytes"));
        if magic != SUPERBLOCK_MAGIC || format != SUPERBLOCK_FORMAT {
            return Err(SuperblockError::Corrupted(format!(
                "magic {magic:#x} format {format}"
            )));
        }
        let sb = Superblock {
            catalog_root: PageId(get_u64(img, BODY + 8)),
            next_page: PageId(get_u64(img, BODY + 16)),
            free_head: PageId(get_u64(img, BODY + 24)),
            free_count: get_u64(img, BODY + 32),
            pages_per_pg: get_u64(img, BODY + 40),
            next_object_id: get_u64(img, BODY + 48),
        };
        if sb.next_page.0 == 0
            || sb.catalog_root.0 >= sb.next_page.0
            || sb.free_head.0 >= sb.next_page.0
        {
            return Err(SuperblockError::Corrupted(format!(
                "inconsistent fields {sb:?}"
            )));
        }
        Ok(sb)
    }

    /// Writes the fields into page 0 (the caller seals the checksum).
    pub fn encode(&self, img: &mut PageImage) {
        page::set_page_type(img, PageType::Superblock);
        img[BODY..BODY + 4].copy_from_slice(&SUPERBLOCK_MAGIC.to_le_bytes());
        img[BODY + 4..BODY + 8].copy_from_slice(&SUPERBLOCK_FORMAT.to_le_bytes());
        for (i, v) in [
            self.catalog_root.0,
            self.next_page.0,
            self.free_head.0,
            self.free_count,
            self.pages_per_pg,
            self.next_object_id,
        ]
        .into_iter()
        .enumerate()
        {
            let at = BODY + 8 + i * 8;
            img[at..at + 8].copy_from_slice(&v.to_le_bytes());
        }
    }
}

/// On a free page, the next free page follows the header.
pub fn free_next(img: &PageImage) -> PageId {
    PageId(get_u64(img, BODY))
}

/// Formats `img` as a free page linking to `next`.
pub fn set_free(img: &mut PageImage, next: PageId) {
    img.fill(0);
    page::set_page_type(img, PageType::Free);
    img[BODY..BODY + 8].copy_from_slice(&next.0.to_le_bytes());
}
