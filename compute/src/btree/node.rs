//! What the cells of B+tree pages mean, and searching them.
//!
//! A leaf cell is one entry: `key_len u16 | kind u8 | key | value part`,
//! where the value part is the value itself (kind 0, inline) or
//! `len u32 | first u64`, the length and first page of an overflow chain
//! (kind 1). An internal cell is `child u64 | key`: the child holds the keys
//! from this key (inclusive) up to the next cell's key (exclusive). Cell 0's
//! key is stored empty and means "from the node's own lower bound", so an
//! internal node with `n` cells has `n` children and `n - 1` separators.
//! Layouts are drawn in `docs/page-format.md`; integers are little-endian.
//!
//! Every parser here checks lengths against the cell before slicing: cells
//! come from validated pages but their contents are still untrusted bytes.

use std::cmp::Ordering;

use super::{corrupted, BTreeError, KEY_BYTES_MAX, LEVELS_MAX, VALUE_BYTES_MAX, VALUE_INLINE_MAX};
use crate::page::{PageType, SlottedPage, PAGE_CELL_SPACE, SLOT_BYTES};
use crate::pages::{PageId, PageRef};

/// `key_len u16` and `kind u8`.
pub(super) const LEAF_CELL_HEADER_BYTES: usize = 3;
/// `len u32` and `first u64` of an overflowed value.
pub(super) const OVERFLOW_REF_BYTES: usize = 12;
/// `child u64`.
pub(super) const INTERNAL_CELL_HEADER_BYTES: usize = 8;
/// The largest leaf cell: a key and an inline value at their limits.
pub(super) const LEAF_CELL_BYTES_MAX: usize =
    LEAF_CELL_HEADER_BYTES + KEY_BYTES_MAX + VALUE_INLINE_MAX;
/// The largest internal cell: a separator is at most a key.
pub(super) const INTERNAL_CELL_BYTES_MAX: usize = INTERNAL_CELL_HEADER_BYTES + KEY_BYTES_MAX;

const KIND_INLINE: u8 = 0;
const KIND_OVERFLOW: u8 = 1;

// A split divides a full page plus one cell into two pages. With every cell
// (and its slot) at most half a page, some split point leaves both halves
// within a page: the prefix sums step by at most half a page through an
// interval at least half a page wide (see `split_point`).
const _: () = assert!(2 * (LEAF_CELL_BYTES_MAX + SLOT_BYTES) <= PAGE_CELL_SPACE);
// At least four separators fit an internal page, so a split internal node
// had at least four children: the fan-out, and so the height's logarithm
// base, stays at least four even when every key is at the limit.
const _: () = assert!(4 * (INTERNAL_CELL_BYTES_MAX + SLOT_BYTES) <= PAGE_CELL_SPACE);
// An overflowed value's reference is smaller than any value it replaces.
const _: () = assert!(OVERFLOW_REF_BYTES < VALUE_INLINE_MAX);
const _: () = assert!(KEY_BYTES_MAX <= u16::MAX as usize);
const _: () = assert!(VALUE_BYTES_MAX <= u32::MAX as usize);

/// Where a value lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Value<'a> {
    /// In the leaf cell.
    Inline(&'a [u8]),
    /// In an overflow chain of `len` bytes starting at `first`.
    Overflow { len: usize, first: PageId },
}

/// A parsed leaf cell.
#[derive(Clone, Copy, Debug)]
pub(super) struct Entry<'a> {
    pub(super) key: &'a [u8],
    pub(super) value: Value<'a>,
}

/// Parses and checks page `id` as a B+tree node: a slotted leaf or internal
/// page, below the height limit, at `level` if one is expected, and with no
/// sibling links on an internal node (only leaves are chained).
pub(super) fn parse_node(
    id: PageId,
    bytes: &PageRef,
    level: Option<u16>,
) -> Result<SlottedPage<'_>, BTreeError> {
    parse_node_vouched(id, bytes, level, false)
}

/// [`parse_node`] for bytes whose source may vouch that they passed the
/// slotted-page checks already (`vouched`, from
/// [`crate::pages::Pages::get_checked`]): then the slot directory is not
/// walked again. The node-level checks still run.
pub(super) fn parse_node_vouched(
    id: PageId,
    bytes: &PageRef,
    level: Option<u16>,
    vouched: bool,
) -> Result<SlottedPage<'_>, BTreeError> {
    let page = if vouched || checked::before(bytes) {
        SlottedPage::parsed_before(id, bytes)
    } else {
        let page = SlottedPage::parse(id, bytes)?;
        if page.page_type() == PageType::BTreeInternal {
            checked::remember(bytes);
        }
        page
    };
    let ty = page.page_type();
    if !matches!(ty, PageType::BTreeLeaf | PageType::BTreeInternal) {
        return Err(corrupted(
            id,
            format!("a {ty:?} page where a tree node was expected"),
        ));
    }
    if page.level() >= LEVELS_MAX {
        return Err(corrupted(
            id,
            format!("level {} is past the limit", page.level()),
        ));
    }
    if let Some(level) = level {
        if page.level() != level {
            return Err(corrupted(
                id,
                format!(
                    "node at level {} where level {level} was expected",
                    page.level()
                ),
            ));
        }
    }
    if ty == PageType::BTreeInternal && (page.left().is_some() || page.right().is_some()) {
        return Err(corrupted(id, "an internal node with sibling links"));
    }
    Ok(page)
}

/// The key of leaf cell `cell` of page `id`.
pub(super) fn leaf_key(id: PageId, cell: &[u8]) -> Result<&[u8], BTreeError> {
    if cell.len() < LEAF_CELL_HEADER_BYTES {
        return Err(corrupted(id, format!("leaf cell of {} bytes", cell.len())));
    }
    let key_len = usize::from(u16::from_le_bytes([cell[0], cell[1]]));
    if key_len > KEY_BYTES_MAX {
        return Err(corrupted(id, format!("key of {key_len} bytes")));
    }
    cell.get(LEAF_CELL_HEADER_BYTES..LEAF_CELL_HEADER_BYTES + key_len)
        .ok_or_else(|| {
            corrupted(
                id,
                format!("key of {key_len} bytes in a cell of {}", cell.len()),
            )
        })
}

/// Parses leaf cell `cell` of page `id`.
pub(super) fn leaf_entry(id: PageId, cell: &[u8]) -> Result<Entry<'_>, BTreeError> {
    let key = leaf_key(id, cell)?;
    let rest = &cell[LEAF_CELL_HEADER_BYTES + key.len()..];
    let value = match cell[2] {
        KIND_INLINE => {
            if rest.len() > VALUE_INLINE_MAX {
                return Err(corrupted(
                    id,
                    format!("inline value of {} bytes", rest.len()),
                ));
            }
            Value::Inline(rest)
        }
        KIND_OVERFLOW => {
            let Ok(reference) = <[u8; OVERFLOW_REF_BYTES]>::try_from(rest) else {
                return Err(corrupted(
                    id,
                    format!("overflow reference of {} bytes", rest.len()),
                ));
            };
            let len = u32::from_le_bytes(reference[..4].try_into().expect("4 bytes"));
            let first = u64::from_le_bytes(reference[4..].try_into().expect("8 bytes"));
            let len = usize::try_from(len).expect("usize is at least 32 bits");
            if len <= VALUE_INLINE_MAX || len > VALUE_BYTES_MAX {
                return Err(corrupted(id, format!("overflowed value of {len} bytes")));
            }
            if first == 0 {
                return Err(corrupted(id, "overflow chain starting at page 0"));
            }
            Value::Overflow {
                len,
                first: PageId(first),
            }
        }
        kind => return Err(corrupted(id, format!("unknown value kind {kind}"))),
    };
    Ok(Entry { key, value })
}

/// Encodes a leaf cell.
pub(super) fn encode_leaf(key: &[u8], value: &Value<'_>) -> Vec<u8> {
    assert!(key.len() <= KEY_BYTES_MAX, "key of {} bytes", key.len());
    let key_len = u16::try_from(key.len()).expect("KEY_BYTES_MAX fits u16");
    let mut cell = Vec::with_capacity(LEAF_CELL_BYTES_MAX);
    cell.extend_from_slice(&key_len.to_le_bytes());
    match value {
        Value::Inline(v) => {
            assert!(
                v.len() <= VALUE_INLINE_MAX,
                "inline value of {} bytes",
                v.len()
            );
            cell.push(KIND_INLINE);
            cell.extend_from_slice(key);
            cell.extend_from_slice(v);
        }
        Value::Overflow { len, first } => {
            assert!(*len > VALUE_INLINE_MAX, "overflowed value of {len} bytes");
            let len = u32::try_from(*len).expect("VALUE_BYTES_MAX fits u32");
            cell.push(KIND_OVERFLOW);
            cell.extend_from_slice(key);
            cell.extend_from_slice(&len.to_le_bytes());
            cell.extend_from_slice(&first.0.to_le_bytes());
        }
    }
    cell
}

/// Parses internal cell `cell` of page `id` into its child and key.
pub(super) fn internal_entry(id: PageId, cell: &[u8]) -> Result<(PageId, &[u8]), BTreeError> {
    if cell.len() < INTERNAL_CELL_HEADER_BYTES {
        return Err(corrupted(
            id,
            format!("internal cell of {} bytes", cell.len()),
        ));
    }
    let (child, key) = cell.split_at(INTERNAL_CELL_HEADER_BYTES);
    let child = u64::from_le_bytes(child.try_into().expect("8 bytes"));
    if child == 0 {
        return Err(corrupted(id, "child pointer to page 0"));
    }
    if key.len() > KEY_BYTES_MAX {
        return Err(corrupted(id, format!("separator of {} bytes", key.len())));
    }
    Ok((PageId(child), key))
}

/// Encodes an internal cell.
pub(super) fn encode_internal(child: PageId, key: &[u8]) -> Vec<u8> {
    assert!(child.0 != 0, "child pointer to page 0");
    assert!(
        key.len() <= KEY_BYTES_MAX,
        "separator of {} bytes",
        key.len()
    );
    let mut cell = Vec::with_capacity(INTERNAL_CELL_HEADER_BYTES + key.len());
    cell.extend_from_slice(&child.0.to_le_bytes());
    cell.extend_from_slice(key);
    cell
}

/// Binary search of a leaf for `key`: `Ok(index)` if present, else
/// `Err(index)` where it would be inserted.
pub(super) fn leaf_search(
    page: &SlottedPage<'_>,
    key: &[u8],
) -> Result<Result<usize, usize>, BTreeError> {
    let (mut lo, mut hi) = (0, page.slot_count());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match leaf_key(page.id(), page.cell(mid))?.cmp(key) {
            Ordering::Less => lo = mid + 1,
            Ordering::Greater => hi = mid,
            Ordering::Equal => return Ok(Ok(mid)),
        }
    }
    Ok(Err(lo))
}

/// The index of the child of internal node `page` whose range holds `key`:
/// the last cell whose key is at most `key`, cell 0 counting as the
/// smallest. The node has at least one cell.
pub(super) fn child_index(page: &SlottedPage<'_>, key: &[u8]) -> Result<usize, BTreeError> {
    let count = page.slot_count();
    assert!(count > 0, "search of an empty internal node {}", page.id());
    // Find the first cell in 1..count whose key is above `key`.
    let (mut lo, mut hi) = (1, count);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let (_, sep) = internal_entry(page.id(), page.cell(mid))?;
        if sep <= key {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Ok(lo - 1)
}

/// The shortest key `s` with `left < s <= right` (suffix truncation): a
/// separator only has to tell the two leaves apart, and short separators
/// mean more children per internal page. Needs `left < right`.
pub(super) fn separator(left: &[u8], right: &[u8]) -> Vec<u8> {
    assert!(left < right, "separator of unordered keys");
    let common = left.iter().zip(right).take_while(|(a, b)| a == b).count();
    // `right` is longer than the common prefix: either `left` ends there (so
    // any longer string with that prefix is above it) or the next byte of
    // `right` is the larger one.
    right[..=common].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separator_is_shortest_between() {
        let cases: [(&[u8], &[u8], &[u8]); 5] = [
            (b"abc", b"abd", b"abd"),
            (b"ab", b"abzzz", b"abz"),
            (b"", b"a", b"a"),
            (b"apple", b"banana", b"b"),
            (b"a\xff", b"b", b"b"),
        ];
        for (left, right, want) in cases {
            let s = separator(left, right);
            assert_eq!(s, want);
            assert!(left < &s[..] && &s[..] <= right);
        }
    }

    #[test]
    fn leaf_cells_round_trip() {
        let id = PageId(3);
        let cell = encode_leaf(b"key", &Value::Inline(b"value"));
        let e = leaf_entry(id, &cell).unwrap();
        assert_eq!((e.key, e.value), (&b"key"[..], Value::Inline(b"value")));
        let over = Value::Overflow {
            len: 5000,
            first: PageId(42),
        };
        let cell = encode_leaf(b"", &over);
        assert_eq!(cell.len(), LEAF_CELL_HEADER_BYTES + OVERFLOW_REF_BYTES);
        let e = leaf_entry(id, &cell).unwrap();
        assert_eq!((e.key, e.value), (&b""[..], over));
    }

    #[test]
    fn bad_cells_are_errors() {
        let id = PageId(3);
        let mut bad_kind = encode_leaf(b"k", &Value::Inline(b"v"));
        bad_kind[2] = 7;
        let mut long_key = encode_leaf(b"k", &Value::Inline(b"v"));
        long_key[0] = 200;
        let mut short_ref = encode_leaf(
            b"k",
            &Value::Overflow {
                len: 3000,
                first: PageId(9),
            },
        );
        short_ref.pop();
        let mut small_overflow = encode_leaf(
            b"k",
            &Value::Overflow {
                len: 3000,
                first: PageId(9),
            },
        );
        small_overflow[4..8].copy_from_slice(&10u32.to_le_bytes());
        for cell in [
            &[1u8][..],
            &bad_kind,
            &long_key,
            &short_ref,
            &small_overflow,
        ] {
            assert!(leaf_entry(id, cell).is_err(), "{cell:?}");
        }
        assert!(internal_entry(id, &[1, 2, 3]).is_err());
        assert!(internal_entry(id, &[0; 8]).is_err());
        assert_eq!(
            internal_entry(id, &encode_internal(PageId(5), b"s")).unwrap(),
            (PageId(5), &b"s"[..])
        );
    }
}

/// Internal nodes whose slot directories were validated on this thread.
///
/// Validating a slotted page walks every slot, and an internal node has
/// hundreds: every primary-key lookup behind an index scan descends from
/// the root, and re-validating the same few upper nodes each time was an
/// eighth of such a scan's CPU. A `PageRef`'s bytes never change (it is
/// shared, so it cannot be written in place), and each remembered node
/// keeps its image alive, so an address found here is that same image.
/// Leaves are not remembered: a cursor validates each leaf once anyway.
mod checked {
    use std::cell::RefCell;
    use std::sync::Arc;

    use crate::pages::PageRef;

    /// Slots per thread, direct-mapped by address: at most this many
    /// images (8 KiB each) stay alive here after the pool lets them go.
    const SLOTS: usize = 32;

    thread_local! {
        static NODES: RefCell<[Option<PageRef>; SLOTS]> = const { RefCell::new([const { None }; SLOTS]) };
    }

    fn slot(page: &PageRef) -> usize {
        // Images are 8 KiB allocations: the low bits carry nothing.
        (Arc::as_ptr(page) as usize >> 13) % SLOTS
    }

    pub(super) fn before(page: &PageRef) -> bool {
        NODES.with(|n| {
            n.borrow()[slot(page)]
                .as_ref()
                .is_some_and(|p| Arc::ptr_eq(p, page))
        })
    }

    pub(super) fn remember(page: &PageRef) {
        NODES.with(|n| n.borrow_mut()[slot(page)] = Some(Arc::clone(page)));
    }
}
