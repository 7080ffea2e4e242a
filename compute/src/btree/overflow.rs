//! Overflow chains: where values too large for a leaf live.
//!
//! A value longer than [`VALUE_INLINE_MAX`](super::VALUE_INLINE_MAX) is cut
//! into chunks of [`OVERFLOW_CHUNK_BYTES`], each the only cell of an overflow
//! page, linked first to last through the pages' right links; the leaf cell
//! keeps the value's length and first page. Using a one-cell slotted page
//! costs four bytes a page and buys the slotted page's validation for free.
//!
//! A chain belongs to exactly one leaf cell and is freed with it (delete,
//! replace, destroy); nothing else points into it. Because the length is
//! known up front, a walk visits exactly `ceil(len / chunk)` pages and checks
//! each chunk's length, so a corrupt link can neither loop nor run long.

use std::collections::HashSet;

use super::{alloc, corrupted, BTreeError};
use crate::page::{PageType, SlottedPage, SlottedPageMut, CELL_BYTES_MAX};
use crate::pages::{PageId, Pages, PagesMut};

/// Value bytes per overflow page.
pub(super) const OVERFLOW_CHUNK_BYTES: usize = CELL_BYTES_MAX;

/// Pages in the chain of a `len`-byte value.
pub(super) fn chain_pages(len: usize) -> usize {
    len.div_ceil(OVERFLOW_CHUNK_BYTES)
}

/// Writes `value` to a new chain; returns its first page.
pub(super) fn write(pages: &mut impl PagesMut, value: &[u8]) -> Result<PageId, BTreeError> {
    assert!(!value.is_empty(), "an empty value never overflows");
    let ids = (0..chain_pages(value.len()))
        .map(|_| alloc(pages))
        .collect::<Result<Vec<_>, _>>()?;
    for (i, chunk) in value.chunks(OVERFLOW_CHUNK_BYTES).enumerate() {
        let bytes = pages.get_mut(ids[i])?;
        let mut page = SlottedPageMut::init(ids[i], bytes, PageType::Overflow, 0);
        page.push(chunk);
        page.set_right(ids.get(i + 1).copied());
    }
    Ok(ids[0])
}

/// Walks the chain of a `len`-byte value from `first`, checking every page,
/// and hands each page and its chunk to `visit` in order.
pub(super) fn walk(
    pages: &impl Pages,
    first: PageId,
    len: usize,
    mut visit: impl FnMut(PageId, &[u8]) -> Result<(), BTreeError>,
) -> Result<(), BTreeError> {
    let mut next = Some(first);
    let mut prev = first;
    let mut remaining = len;
    let mut seen = HashSet::new();
    for _ in 0..chain_pages(len) {
        let Some(id) = next else {
            return Err(corrupted(
                prev,
                format!("overflow chain ends with {remaining} bytes to go"),
            ));
        };
        if !seen.insert(id) {
            return Err(corrupted(
                prev,
                format!("overflow chain loops back to page {id}"),
            ));
        }
        let page_ref = pages.get(id)?;
        let page = SlottedPage::parse(id, &page_ref)?;
        if page.page_type() != PageType::Overflow {
            return Err(corrupted(
                id,
                format!("a {:?} page in an overflow chain", page.page_type()),
            ));
        }
        if page.slot_count() != 1 || page.left().is_some() {
            return Err(corrupted(
                id,
                "overflow page with other than one cell or a left link",
            ));
        }
        let chunk = page.cell(0);
        let want = remaining.min(OVERFLOW_CHUNK_BYTES);
        if chunk.len() != want {
            return Err(corrupted(
                id,
                format!(
                    "overflow chunk of {} bytes where {want} were expected",
                    chunk.len()
                ),
            ));
        }
        visit(id, chunk)?;
        remaining -= want;
        prev = id;
        next = page.right();
    }
    match next {
        None => Ok(()),
        Some(extra) => Err(corrupted(
            prev,
            format!("overflow chain goes on to page {extra}"),
        )),
    }
}

/// Reads a `len`-byte value from its chain.
pub(super) fn read(pages: &impl Pages, first: PageId, len: usize) -> Result<Vec<u8>, BTreeError> {
    // Grown chunk by chunk rather than reserved: `len` is only trusted once
    // the chain has matched it.
    let mut value = Vec::new();
    walk(pages, first, len, |_, chunk| {
        value.extend_from_slice(chunk);
        Ok(())
    })?;
    Ok(value)
}

/// The pages of a chain, checked.
pub(super) fn chain(
    pages: &impl Pages,
    first: PageId,
    len: usize,
) -> Result<Vec<PageId>, BTreeError> {
    let mut ids = Vec::new();
    walk(pages, first, len, |id, _| {
        ids.push(id);
        Ok(())
    })?;
    Ok(ids)
}

/// Frees a chain, after checking all of it: a corrupt chain frees nothing.
pub(super) fn free(pages: &mut impl PagesMut, first: PageId, len: usize) -> Result<(), BTreeError> {
    for id in chain(pages, first, len)? {
        pages.free(id)?;
    }
    Ok(())
}
