//! B+trees over pages: every table (clustered on its primary key) and every
//! index is one.
//!
//! Keys and values are opaque byte strings ordered by `memcmp`; making typed
//! values sort right as bytes is the key encoding's job (`crate::keycode`).
//! Pages are read through [`Pages`] (a snapshot) and changed through
//! [`PagesMut`] (one mini-transaction), so the tree neither knows nor cares
//! whether a page came from the buffer pool or from a map in a test.
//!
//! # Shape
//!
//! Entries live in leaves (slotted pages, `crate::page`), sorted by key and
//! chained both ways through sibling links for scans. Internal nodes hold
//! `(separator, child)` cells; separators are the shortest byte strings that
//! tell two leaves apart (suffix truncation), so long keys with long common
//! prefixes still make short separators. A value longer than
//! [`VALUE_INLINE_MAX`] goes to a chain of overflow pages (`overflow`). Cell
//! layouts are in `node` and `docs/page-format.md`.
//!
//! The root's page id never changes, so a catalog can store it: a root split
//! moves the root's contents into two new children and the root becomes
//! their parent, and when the root is left with one child the child's
//! contents move up into the root.
//!
//! # Underflow: merge when it fits, never redistribute
//!
//! A delete that leaves a page empty frees it: an empty leaf is unlinked from
//! its siblings, and its parent's cell goes, recursively (PostgreSQL's nbtree
//! stops there: it deletes empty pages and never merges). We also merge: a
//! page that falls below a quarter full is merged into a sibling under the
//! same parent when both fit in one page, because CDC tables see mass
//! deletes that would otherwise leave long runs of nearly empty leaves.
//! Unlike a textbook B+tree we never redistribute entries between siblings:
//! that would change a separator during a delete, and a longer separator can
//! force the parent to split inside a delete. So a page stays under a quarter
//! full only when neither neighbour under its parent has room to take it in.
//! Sequential inserts at the right edge fill the left page completely on a
//! split (as SQLite's "quickbalance" and PostgreSQL's rightmost split do), so
//! append-mostly tables stay dense.
//!
//! # Errors and atomicity
//!
//! Corrupt page bytes are errors ([`BTreeError::Corrupted`] or
//! [`PageError::Corrupted`] inside [`BTreeError::Page`]), never panics: every
//! page is validated when read, every child is checked to be one level down
//! (so descents terminate), and every link is checked before it is followed.
//! An operation that fails may have changed some pages of its
//! [`PagesMut`]: the caller discards that mini-transaction, which is what
//! makes each operation atomic. Panics are reserved for broken invariants of
//! this code itself.
//!
//! # Concurrency
//!
//! None here: a tree is changed by one writer through one `PagesMut` at a
//! time (the commit pipeline), and readers read immutable snapshots.

use std::collections::HashSet;
use std::ops::Bound;

use crate::page::{
    page_lsn, set_page_lsn, PageType, SlottedPage, SlottedPageMut, PAGE_CELL_SPACE, SLOT_BYTES,
};
use crate::pages::{PageError, PageId, PageRef, Pages, PagesMut};

mod check;
mod cursor;
mod node;
mod overflow;
#[cfg(test)]
mod tests;

pub use check::TreeStats;
pub use cursor::{Cursor, Direction};

use node::{
    encode_internal, encode_leaf, internal_entry, leaf_entry, leaf_key, leaf_search, parse_node,
    parse_node_vouched, Value,
};

/// The longest key. Two leaf cells at the limits of key and inline value
/// must fit a page for splits to work, and four separators an internal page
/// for the fan-out to stay at four or more (compile-time checks in `node`).
/// PostgreSQL's nbtree limit is about a third of a page for the same reason.
pub const KEY_BYTES_MAX: usize = 2000;
/// The longest value stored in its leaf; longer ones go to overflow pages.
/// Small enough that a leaf holds at least two entries at the limits, large
/// enough that a value that overflows costs at most ~25% of a page in waste
/// per chain.
pub const VALUE_INLINE_MAX: usize = 2000;
/// The longest value: PostgreSQL's limit for one field (1 GB), and it fits
/// the `u32` length in an overflow reference.
pub const VALUE_BYTES_MAX: usize = 1 << 30;
/// The most levels a tree may have. Even at the minimum fan-out of four at
/// a split, 32 levels address 2^62 leaves, more pages than a volume can
/// hold; a deeper tree means corruption, and bounds every descent.
pub const LEVELS_MAX: u16 = 32;
/// [`BTree::split_keys`] cuts a tree only where each part gets at least
/// this many subtrees (of the leaves, at least: 8 leaves are ~64 KiB).
pub const SPLIT_CHILDREN_MIN: usize = 8;
/// A page using fewer bytes than this after a delete is merged into a
/// sibling if they fit in one page together.
const MERGE_BELOW_BYTES: usize = PAGE_CELL_SPACE / 4;

/// A key and its value, as scans return them.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// Why a tree operation failed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BTreeError {
    /// A page could not be read, allocated or parsed.
    #[error(transparent)]
    Page(#[from] PageError),
    /// A page's contents break the tree's structure.
    #[error("b+tree page {page} is corrupt: {detail}")]
    Corrupted {
        /// The page.
        page: PageId,
        /// Which check failed.
        detail: String,
    },
    /// A key over [`KEY_BYTES_MAX`].
    #[error("key of {len} bytes is over the limit of {max}")]
    KeyTooLarge {
        /// The key's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A value over [`VALUE_BYTES_MAX`].
    #[error("value of {len} bytes is over the limit of {max}")]
    ValueTooLarge {
        /// The value's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A root split would make the tree deeper than [`LEVELS_MAX`].
    #[error("the tree would grow past {max} levels")]
    TooDeep {
        /// The limit.
        max: u16,
    },
}

impl BTreeError {
    /// Whether the error means bad page bytes (as opposed to bad input or an
    /// unavailable page).
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            BTreeError::Corrupted { .. } | BTreeError::Page(PageError::Corrupted { .. })
        )
    }
}

pub(crate) fn corrupted(page: PageId, detail: impl Into<String>) -> BTreeError {
    BTreeError::Corrupted {
        page,
        detail: detail.into(),
    }
}

/// A page from the allocator; page 0 is the superblock, and the page format
/// uses 0 for "no page".
fn alloc(pages: &mut impl PagesMut) -> Result<PageId, BTreeError> {
    let id = pages.allocate()?;
    assert!(id.0 != 0, "the allocator handed out page 0, the superblock");
    Ok(id)
}

/// Where a descent goes.
#[derive(Clone, Copy)]
enum Target<'k> {
    /// To the leaf whose range holds the key.
    Key(&'k [u8]),
    /// To the first leaf.
    First,
    /// To the last leaf.
    Last,
}

/// One internal node on the way down.
#[derive(Clone, Copy, Debug)]
struct Step {
    page: PageId,
    /// The child taken.
    index: usize,
    /// Whether that child is the node's last.
    last: bool,
    /// The node's children.
    count: usize,
}

/// The result of a descent: the internal nodes passed, root first, and the
/// leaf reached, already validated.
struct Descent {
    path: Vec<Step>,
    leaf: PageId,
    page: PageRef,
}

/// Walks from `root` to a leaf, checking each node and that each child is
/// one level below its parent (so the walk ends within `LEVELS_MAX` steps).
fn descend(pages: &impl Pages, root: PageId, target: Target<'_>) -> Result<Descent, BTreeError> {
    let mut path = Vec::new();
    let mut id = root;
    let mut level = None;
    loop {
        let (page, vouched) = pages.get_checked(id)?;
        let node = parse_node_vouched(id, &page, level, vouched)?;
        if node.level() == 0 {
            return Ok(Descent {
                path,
                leaf: id,
                page,
            });
        }
        let count = node.slot_count();
        if count == 0 {
            return Err(corrupted(id, "an internal node without children"));
        }
        let index = match target {
            Target::Key(key) => node::child_index(&node, key)?,
            Target::First => 0,
            Target::Last => count - 1,
        };
        let (child, _) = internal_entry(id, node.cell(index))?;
        path.push(Step {
            page: id,
            index,
            last: index == count - 1,
            count,
        });
        level = Some(node.level() - 1);
        id = child;
    }
}

/// Where [`BTree::get_near`]'s last lookup ended: a leaf of one version of
/// the tree.
#[derive(Clone)]
pub struct Finger {
    leaf: PageId,
    page: PageRef,
    /// The internal nodes above the leaf, root first. A key strictly
    /// between a node's second and last separators lies under it, so the
    /// next lookup starts at the deepest such node instead of at the root:
    /// rows fetched through an index by primary key mostly share the upper
    /// levels of the path even when their leaves differ.
    ancestors: Vec<(PageId, PageRef)>,
    /// The slot the last lookup found (or would have inserted at): a scan
    /// in key order, forward or backward, mostly looks up a neighbour next.
    slot: usize,
}

/// Hands the value of leaf cell `cell` to `f`: in place when inline, read
/// into a buffer first when it overflows.
fn with_value<R>(
    pages: &impl Pages,
    leaf: PageId,
    cell: &[u8],
    f: impl FnOnce(&[u8]) -> R,
) -> Result<R, BTreeError> {
    let entry = leaf_entry(leaf, cell)?;
    Ok(match entry.value {
        Value::Inline(v) => f(v),
        Value::Overflow { .. } => f(&read_value(pages, &entry.value)?),
    })
}

/// The bytes of a stored value.
fn read_value(pages: &impl Pages, value: &Value<'_>) -> Result<Vec<u8>, BTreeError> {
    match *value {
        Value::Inline(v) => Ok(v.to_vec()),
        Value::Overflow { len, first } => overflow::read(pages, first, len),
    }
}

/// Frees a stored value's overflow chain, if it has one.
fn free_value(pages: &mut impl PagesMut, value: &Value<'_>) -> Result<(), BTreeError> {
    match *value {
        Value::Inline(_) => Ok(()),
        Value::Overflow { len, first } => overflow::free(pages, first, len),
    }
}

/// Where a full node should split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SplitAim {
    /// Two halves of about the same size: room on both sides for keys that
    /// arrive anywhere.
    Balanced,
    /// The new cell ends the left page (cell `index` of the combined list):
    /// keys arriving in ascending order right after it then fill the left
    /// page, and later the page after it, instead of leaving a trail of
    /// half-empty pages. At the right edge of the tree this leaves the left
    /// page full and moves only the new cell.
    After(usize),
}

/// Picks where to split `cells` (which no longer fit one page) into
/// `[..k]` and `[k..]`, both non-empty and each fitting a page, as close to
/// `aim` as the cell sizes allow. One always exists for cells within the
/// size limits (see `node`); none means a cell over the limits, which only
/// corrupt bytes can produce.
fn split_point(id: PageId, cells: &[Vec<u8>], aim: SplitAim) -> Result<usize, BTreeError> {
    let total: usize = cells.iter().map(|c| c.len() + SLOT_BYTES).sum();
    let mut left = 0;
    let mut best: Option<(usize, usize)> = None;
    for k in 1..cells.len() {
        left += cells[k - 1].len() + SLOT_BYTES;
        let right = total - left;
        if left > PAGE_CELL_SPACE {
            break;
        }
        if right > PAGE_CELL_SPACE {
            continue;
        }
        let cost = match aim {
            SplitAim::Balanced => left.abs_diff(right),
            SplitAim::After(index) => k.abs_diff(index + 1),
        };
        if best.is_none_or(|(_, c)| cost < c) {
            best = Some((k, cost));
        }
    }
    best.map(|(k, _)| k)
        .ok_or_else(|| corrupted(id, "cells too large to split into two pages"))
}

/// Formats page `id` as a tree node holding `cells`.
fn write_node(
    pages: &mut impl PagesMut,
    id: PageId,
    level: u16,
    cells: &[Vec<u8>],
    left: Option<PageId>,
    right: Option<PageId>,
) -> Result<(), BTreeError> {
    let ty = if level == 0 {
        PageType::BTreeLeaf
    } else {
        PageType::BTreeInternal
    };
    let mut page = SlottedPageMut::init(id, pages.get_mut(id)?, ty, level);
    for cell in cells {
        page.push(cell);
    }
    page.set_left(left);
    page.set_right(right);
    Ok(())
}

/// One of a leaf's two sibling links.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    Left,
    Right,
}

/// Checks that leaf `id`'s `link` points at `old`, and points it at `new`
/// instead.
fn relink(
    pages: &mut impl PagesMut,
    id: PageId,
    link: Link,
    old: PageId,
    new: Option<PageId>,
) -> Result<(), BTreeError> {
    let mut page = pages.slotted_mut(id)?;
    let view = page.as_page();
    let current = match link {
        Link::Left => view.left(),
        Link::Right => view.right(),
    };
    if view.page_type() != PageType::BTreeLeaf || current != Some(old) {
        return Err(corrupted(
            id,
            format!("{link:?} sibling link does not point back to {old}"),
        ));
    }
    match link {
        Link::Left => page.set_left(new),
        Link::Right => page.set_right(new),
    }
    Ok(())
}

/// Removes cell `index` of internal node `parent`; a new cell 0 loses its
/// key, which now means "from the node's lower bound".
fn remove_child(pages: &mut impl PagesMut, parent: PageId, index: usize) -> Result<(), BTreeError> {
    let mut page = pages.slotted_mut(parent)?;
    page.remove(index);
    if index == 0 && page.as_page().slot_count() > 0 {
        let (child, _) = internal_entry(parent, page.as_page().cell(0))?;
        page.replace(0, &encode_internal(child, &[]));
    }
    Ok(())
}

/// A handle on one B+tree: the id of its root page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BTree {
    root: PageId,
}

impl BTree {
    /// Creates an empty tree: one empty leaf, its root.
    pub fn create(pages: &mut impl PagesMut) -> Result<BTree, BTreeError> {
        let root = alloc(pages)?;
        write_node(pages, root, 0, &[], None, None)?;
        Ok(BTree { root })
    }

    /// The tree whose root is `root` (from a catalog). Nothing is read until
    /// an operation runs.
    pub fn open(root: PageId) -> BTree {
        BTree { root }
    }

    /// The root page's id, which stays the same for the tree's life.
    pub fn root(&self) -> PageId {
        self.root
    }

    /// The value stored under `key`.
    pub fn get(&self, pages: &impl Pages, key: &[u8]) -> Result<Option<Vec<u8>>, BTreeError> {
        if key.len() > KEY_BYTES_MAX {
            return Ok(None);
        }
        let d = descend(pages, self.root, Target::Key(key))?;
        let leaf = SlottedPage::parsed_before(d.leaf, &d.page);
        let Ok(index) = leaf_search(&leaf, key)? else {
            return Ok(None);
        };
        let entry = leaf_entry(d.leaf, leaf.cell(index))?;
        read_value(pages, &entry.value).map(Some)
    }

    /// [`BTree::get`] for a run of lookups in nearby keys (an index scan's
    /// rows, whose primary keys often sit in the same leaf): `finger` keeps
    /// the leaf the last lookup ended in, and a key between that leaf's
    /// first and last keys is looked up there without descending from the
    /// root (in a B+tree, such a key can only be in that leaf). The value
    /// goes to `f` as borrowed bytes. `pages` must be the same consistent
    /// version for every call with one finger.
    pub fn get_near<R>(
        &self,
        pages: &impl Pages,
        key: &[u8],
        finger: &mut Option<Finger>,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<Option<R>, BTreeError> {
        if key.len() > KEY_BYTES_MAX {
            return Ok(None);
        }
        if let Some(fg) = finger.as_mut() {
            let leaf = SlottedPage::parsed_before(fg.leaf, &fg.page);
            let n = leaf.slot_count();
            // Equal keys are unique in a leaf, so a neighbour holding the
            // key is the answer without a search.
            for i in [fg.slot.wrapping_add(1), fg.slot.wrapping_sub(1)] {
                if i < n && leaf_key(fg.leaf, leaf.cell(i))? == key {
                    fg.slot = i;
                    return Ok(Some(with_value(pages, fg.leaf, leaf.cell(i), f)?));
                }
            }
            if n > 0
                && leaf_key(fg.leaf, leaf.cell(0))? <= key
                && key <= leaf_key(fg.leaf, leaf.cell(n - 1))?
            {
                return Ok(match leaf_search(&leaf, key)? {
                    Ok(index) => {
                        fg.slot = index;
                        Some(with_value(pages, fg.leaf, leaf.cell(index), f)?)
                    }
                    Err(at) => {
                        fg.slot = at;
                        None
                    }
                });
            }
        }
        // From the deepest ancestor of the last leaf that the key surely
        // lies under (the root holds every key), else from the root.
        let mut path = match finger.take() {
            Some(fg) => fg.ancestors,
            None => Vec::new(),
        };
        let mut start = None;
        for (depth, (pid, pref)) in path.iter().enumerate().rev() {
            let node = parse_node(*pid, pref, None)?;
            let n = node.slot_count();
            let inside = depth == 0
                || (n >= 3
                    && internal_entry(*pid, node.cell(1))?.1 <= key
                    && key < internal_entry(*pid, node.cell(n - 1))?.1);
            if inside {
                start = Some(depth);
                break;
            }
        }
        let (mut id, mut page) = match start {
            Some(depth) => {
                path.truncate(depth + 1);
                path.pop().expect("the start is on the path")
            }
            None => {
                path.clear();
                (self.root, pages.get(self.root)?)
            }
        };
        let mut level = None;
        loop {
            let node = parse_node(id, &page, level)?;
            if node.level() == 0 {
                break;
            }
            let (child, _) = internal_entry(id, node.cell(node::child_index(&node, key)?))?;
            level = Some(node.level() - 1);
            let child_page = pages.get(child)?;
            path.push((id, std::mem::replace(&mut page, child_page)));
            id = child;
        }
        let leaf = SlottedPage::parsed_before(id, &page);
        let (found, slot) = match leaf_search(&leaf, key)? {
            Ok(index) => (Some(with_value(pages, id, leaf.cell(index), f)?), index),
            Err(at) => (None, at),
        };
        *finger = Some(Finger {
            leaf: id,
            page,
            ancestors: path,
            slot,
        });
        Ok(found)
    }

    /// Stores `value` under `key`, replacing (and returning) any old value.
    pub fn put(
        &self,
        pages: &mut impl PagesMut,
        key: &[u8],
        value: &[u8],
    ) -> Result<Option<Vec<u8>>, BTreeError> {
        if key.len() > KEY_BYTES_MAX {
            return Err(BTreeError::KeyTooLarge {
                len: key.len(),
                max: KEY_BYTES_MAX,
            });
        }
        if value.len() > VALUE_BYTES_MAX {
            return Err(BTreeError::ValueTooLarge {
                len: value.len(),
                max: VALUE_BYTES_MAX,
            });
        }
        let Descent {
            path,
            leaf: leaf_id,
            page: leaf_page,
            ..
        } = descend(pages, self.root, Target::Key(key))?;
        let leaf = SlottedPage::parsed_before(leaf_id, &leaf_page);
        let (index, old) = match leaf_search(&leaf, key)? {
            Ok(i) => {
                let entry = leaf_entry(leaf_id, leaf.cell(i))?;
                let old = read_value(pages, &entry.value)?;
                free_value(pages, &entry.value)?;
                (i, Some(old))
            }
            Err(i) => (i, None),
        };
        // Not held while the page is changed: a page an MTR already changed
        // is then changed in place rather than copied again.
        drop(leaf_page);
        let stored = if value.len() > VALUE_INLINE_MAX {
            Value::Overflow {
                len: value.len(),
                first: overflow::write(pages, value)?,
            }
        } else {
            Value::Inline(value)
        };
        let cell = encode_leaf(key, &stored);
        let mut page = pages.slotted_mut(leaf_id)?;
        if old.is_some() {
            if page.as_page().fits_replacement(index, cell.len()) {
                page.replace(index, &cell);
                return Ok(old);
            }
            page.remove(index);
        }
        if page.as_page().fits(cell.len()) {
            page.insert(index, &cell);
            return Ok(old);
        }
        self.insert_split(pages, path, leaf_id, index, cell)?;
        Ok(old)
    }

    /// Inserts `cell` at `index` of `node`, which has no room for it:
    /// splits the node and inserts the separator into the parent, up to
    /// the root as needed.
    fn insert_split(
        &self,
        pages: &mut impl PagesMut,
        mut path: Vec<Step>,
        mut node: PageId,
        mut index: usize,
        mut cell: Vec<u8>,
    ) -> Result<(), BTreeError> {
        loop {
            {
                let mut page = pages.slotted_mut(node)?;
                if page.as_page().fits(cell.len()) {
                    page.insert(index, &cell);
                    return Ok(());
                }
            }
            let page_ref = pages.get(node)?;
            let page = parse_node(node, &page_ref, None)?;
            let level = page.level();
            let leaf = level == 0;
            let old_right = page.right();
            let mut cells: Vec<Vec<u8>> = page.cells().map(<[u8]>::to_vec).collect();
            // Keys arriving in ascending order: at the right edge of the
            // tree, or right after the cell written last (which sits at the
            // bottom of the cell area until a compaction). Ingest batches
            // from several producers insert ascending runs in the middle of
            // the tree; balanced splits there left leaves about 60% full.
            let appended = index == cells.len();
            let ascending = (appended && path.iter().all(|s| s.last))
                || (index > 0 && page.is_newest_cell(index - 1));
            let aim = if ascending {
                SplitAim::After(index)
            } else {
                SplitAim::Balanced
            };
            cells.insert(index, cell);
            let k = split_point(node, &cells, aim)?;
            let separator = if leaf {
                node::separator(leaf_key(node, &cells[k - 1])?, leaf_key(node, &cells[k])?)
            } else {
                // The first key of the right node moves up; its cell keeps
                // the child and means "from the separator".
                let (child, key) = internal_entry(node, &cells[k])?;
                let key = key.to_vec();
                cells[k] = encode_internal(child, &[]);
                key
            };
            let (left_cells, right_cells) = cells.split_at(k);
            if node == self.root {
                if level + 1 >= LEVELS_MAX {
                    return Err(BTreeError::TooDeep { max: LEVELS_MAX });
                }
                let l = alloc(pages)?;
                let r = alloc(pages)?;
                write_node(pages, l, level, left_cells, None, leaf.then_some(r))?;
                write_node(pages, r, level, right_cells, leaf.then_some(l), None)?;
                let bytes = pages.get_mut(self.root)?;
                let lsn = page_lsn(bytes);
                let mut root =
                    SlottedPageMut::init(self.root, bytes, PageType::BTreeInternal, level + 1);
                root.set_lsn(lsn);
                root.push(&encode_internal(l, &[]));
                root.push(&encode_internal(r, &separator));
                return Ok(());
            }
            let r = alloc(pages)?;
            {
                let mut page = pages.slotted_mut(node)?;
                page.clear_cells();
                for c in left_cells {
                    page.push(c);
                }
                if leaf {
                    page.set_right(Some(r));
                }
            }
            write_node(
                pages,
                r,
                level,
                right_cells,
                leaf.then_some(node),
                old_right,
            )?;
            if let Some(old_right) = old_right {
                relink(pages, old_right, Link::Left, node, Some(r))?;
            }
            let step = path
                .pop()
                .expect("a node other than the root has a parent on the path");
            node = step.page;
            index = step.index + 1;
            cell = encode_internal(r, &separator);
        }
    }

    /// Removes `key`, returning its value if it was there.
    pub fn delete(
        &self,
        pages: &mut impl PagesMut,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, BTreeError> {
        if key.len() > KEY_BYTES_MAX {
            return Ok(None);
        }
        let d = descend(pages, self.root, Target::Key(key))?;
        let leaf = SlottedPage::parsed_before(d.leaf, &d.page);
        let Ok(index) = leaf_search(&leaf, key)? else {
            return Ok(None);
        };
        let entry = leaf_entry(d.leaf, leaf.cell(index))?;
        let old = read_value(pages, &entry.value)?;
        free_value(pages, &entry.value)?;
        pages.slotted_mut(d.leaf)?.remove(index);
        self.rebalance(pages, d.path, d.leaf)?;
        Ok(Some(old))
    }

    /// After a delete from `node`: frees it if empty, merges it into a
    /// sibling if underfull and they fit, and carries on with the parent
    /// while the parent lost a cell. Ends by shrinking the root if the
    /// changes reached it.
    fn rebalance(
        &self,
        pages: &mut impl PagesMut,
        mut path: Vec<Step>,
        mut node: PageId,
    ) -> Result<(), BTreeError> {
        while let Some(step) = path.pop() {
            let page_ref = pages.get(node)?;
            let page = parse_node(node, &page_ref, None)?;
            if page.slot_count() == 0 {
                if page.level() == 0 {
                    let (left, right) = (page.left(), page.right());
                    if let Some(left) = left {
                        relink(pages, left, Link::Right, node, right)?;
                    }
                    if let Some(right) = right {
                        relink(pages, right, Link::Left, node, left)?;
                    }
                }
                pages.free(node)?;
                remove_child(pages, step.page, step.index)?;
                node = step.page;
                continue;
            }
            if page.used_bytes() >= MERGE_BELOW_BYTES {
                return Ok(());
            }
            let parent_children = {
                let parent_ref = pages.get(step.page)?;
                SlottedPage::parse(step.page, &parent_ref)?.slot_count()
            };
            let merged = (step.index > 0 && self.try_merge(pages, step.page, step.index - 1)?)
                || (step.index + 1 < parent_children
                    && self.try_merge(pages, step.page, step.index)?);
            if !merged {
                return Ok(());
            }
            node = step.page;
        }
        self.collapse_root(pages)
    }

    /// Merges child `left + 1` of `parent` into child `left` if both fit in
    /// one page; returns whether it did.
    fn try_merge(
        &self,
        pages: &mut impl PagesMut,
        parent: PageId,
        left: usize,
    ) -> Result<bool, BTreeError> {
        let parent_ref = pages.get(parent)?;
        let parent_page = parse_node(parent, &parent_ref, None)?;
        let (l_id, _) = internal_entry(parent, parent_page.cell(left))?;
        let (r_id, separator) = internal_entry(parent, parent_page.cell(left + 1))?;
        if l_id == r_id {
            return Err(corrupted(
                parent,
                format!("two children are both page {l_id}"),
            ));
        }
        let level = parent_page.level() - 1;
        let l_ref = pages.get(l_id)?;
        let l = parse_node(l_id, &l_ref, Some(level))?;
        let r_ref = pages.get(r_id)?;
        let r = parse_node(r_id, &r_ref, Some(level))?;
        let leaf = level == 0;
        // Merged internal nodes take the separator down as the key of the
        // right node's first cell.
        let need = l.used_bytes() + r.used_bytes() + if leaf { 0 } else { separator.len() };
        if need > PAGE_CELL_SPACE {
            return Ok(false);
        }
        if leaf && (l.right() != Some(r_id) || r.left() != Some(l_id)) {
            return Err(corrupted(
                l_id,
                format!("leaf and its right sibling {r_id} are not linked"),
            ));
        }
        let mut cells: Vec<Vec<u8>> = r.cells().map(<[u8]>::to_vec).collect();
        if !leaf {
            let Some(first) = cells.first_mut() else {
                return Err(corrupted(r_id, "an internal node without children"));
            };
            let (child, _) = internal_entry(r_id, first)?;
            *first = encode_internal(child, separator);
        }
        let r_right = r.right();
        {
            let mut l = pages.slotted_mut(l_id)?;
            for cell in &cells {
                l.push(cell);
            }
            if leaf {
                l.set_right(r_right);
            }
        }
        if let Some(r_right) = r_right {
            relink(pages, r_right, Link::Left, r_id, Some(l_id))?;
        }
        pages.free(r_id)?;
        remove_child(pages, parent, left + 1)?;
        Ok(true)
    }

    /// While the root is an internal node with one child, moves the child's
    /// contents up into the root; an internal root with no child becomes an
    /// empty leaf.
    fn collapse_root(&self, pages: &mut impl PagesMut) -> Result<(), BTreeError> {
        loop {
            let root_ref = pages.get(self.root)?;
            let root = parse_node(self.root, &root_ref, None)?;
            if root.level() == 0 || root.slot_count() > 1 {
                return Ok(());
            }
            if root.slot_count() == 0 {
                return self.reset_root(pages);
            }
            let (child, _) = internal_entry(self.root, root.cell(0))?;
            let child_ref = pages.get(child)?;
            let child_page = parse_node(child, &child_ref, Some(root.level() - 1))?;
            if child_page.left().is_some() || child_page.right().is_some() {
                return Err(corrupted(child, "the root's only child has siblings"));
            }
            let bytes = pages.get_mut(self.root)?;
            let lsn = page_lsn(bytes);
            *bytes = *child_ref;
            set_page_lsn(bytes, lsn);
            pages.free(child)?;
        }
    }

    /// Makes the root an empty leaf, keeping its LSN.
    fn reset_root(&self, pages: &mut impl PagesMut) -> Result<(), BTreeError> {
        let bytes = pages.get_mut(self.root)?;
        let lsn = page_lsn(bytes);
        SlottedPageMut::init(self.root, bytes, PageType::BTreeLeaf, 0).set_lsn(lsn);
        Ok(())
    }

    /// The entries with keys between `lower` and `upper`, in `dir` order.
    /// Bounds that cross give an empty scan.
    pub fn range<'a, P: Pages>(
        &self,
        pages: &'a P,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        dir: Direction,
    ) -> Cursor<'a, P> {
        Cursor::new(pages, self.root, lower, upper, dir)
    }

    /// About what fraction of the tree's entries have keys between `lower`
    /// and `upper`: where each bound falls among the children of the
    /// internal nodes on its way down, as a share of the tree (children
    /// weighted alike, the upper bound's child counted whole). `None` for a
    /// tree that is one leaf: too small to tell, and cheap to read either
    /// way. No statistics are kept, so this is what a scan consults to
    /// choose between an index range and reading the whole table.
    pub fn estimate_fraction(
        &self,
        pages: &impl Pages,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
    ) -> Result<Option<f64>, BTreeError> {
        let position = |bound: Bound<&[u8]>, upper: bool| -> Result<Option<f64>, BTreeError> {
            let target = match bound {
                Bound::Included(k) | Bound::Excluded(k) => Target::Key(k),
                Bound::Unbounded if upper => Target::Last,
                Bound::Unbounded => Target::First,
            };
            let d = descend(pages, self.root, target)?;
            if d.path.is_empty() {
                return Ok(None);
            }
            let (mut at, mut width) = (0.0, 1.0);
            for step in &d.path {
                width /= step.count as f64;
                at += step.index as f64 * width;
            }
            Ok(Some(if upper { at + width } else { at }))
        };
        let (Some(lo), Some(hi)) = (position(lower, false)?, position(upper, true)?) else {
            return Ok(None);
        };
        Ok(Some((hi - lo).clamp(0.0, 1.0)))
    }

    /// Keys that cut the entries between `lower` and `upper` into `parts`
    /// ranges of about the same number of leaves, in ascending order
    /// (`parts - 1` of them, above the lower bound and at most the upper
    /// one; none when fewer
    /// than `parts` × [`SPLIT_CHILDREN_MIN`] leaves hold the range): a
    /// parallel scan reads `[k[i-1], k[i])` of the range in part `i`. The
    /// cuts are where subtrees start, at the highest level with at least
    /// [`SPLIT_CHILDREN_MIN`] subtrees per part in the range (or the
    /// leaves), so finding them reads few internal nodes; subtrees are
    /// weighed alike, as [`Self::estimate_fraction`] weighs them.
    pub fn split_keys(
        &self,
        pages: &impl Pages,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        parts: usize,
    ) -> Result<Vec<Vec<u8>>, BTreeError> {
        /// A subtree: the key it starts at and the key the next one starts
        /// at (`None`: unbounded), and its root.
        type Subtree = (Option<Vec<u8>>, Option<Vec<u8>>, PageId);
        // Whether a subtree holds keys of the range (or may: bounds are
        // taken inclusively, which can only keep one subtree too many).
        let in_range = |(start, end, _): &Subtree| {
            let below_upper = match (start, upper) {
                (Some(s), Bound::Included(u) | Bound::Excluded(u)) => s.as_slice() <= u,
                _ => true,
            };
            let above_lower = match (end, lower) {
                (Some(e), Bound::Included(l) | Bound::Excluded(l)) => e.as_slice() > l,
                _ => true,
            };
            below_upper && above_lower
        };
        let mut level: Vec<Subtree> = vec![(None, None, self.root)];
        let mut expected = None;
        loop {
            let mut children: Vec<Subtree> = Vec::new();
            let mut node_level = 0;
            for (start, end, id) in &level {
                let page = pages.get(*id)?;
                let node = parse_node(*id, &page, expected)?;
                node_level = node.level();
                if node_level == 0 {
                    // `level` holds leaves: too few to cut further.
                    return Ok(Vec::new());
                }
                let count = node.slot_count();
                if count == 0 {
                    return Err(corrupted(*id, "an internal node without children"));
                }
                let first = children.len();
                for i in 0..count {
                    let (child, key) = internal_entry(*id, node.cell(i))?;
                    // Cell 0's key stands for "below every separator": the
                    // child starts where its parent does.
                    let key = if i == 0 {
                        start.clone()
                    } else {
                        Some(key.to_vec())
                    };
                    if let Some(prev) = children.get_mut(first + i.saturating_sub(1)) {
                        if i > 0 {
                            prev.1 = key.clone();
                        }
                    }
                    children.push((key, end.clone(), child));
                }
            }
            level = children.into_iter().filter(in_range).collect();
            expected = Some(node_level - 1);
            if level.len() >= parts * SPLIT_CHILDREN_MIN || node_level == 1 {
                break;
            }
        }
        if parts < 2 || level.len() < parts * SPLIT_CHILDREN_MIN {
            // Fewer leaves than that: reading them is cheaper than
            // starting another thread.
            return Ok(Vec::new());
        }
        // Each cut is where a subtree after the first starts: above the
        // lower bound (the first subtree ends above it), and at most the
        // upper one (the subtree holds keys of the range).
        let cuts = (1..parts)
            .map(|i| {
                let (start, _, _) = &level[i * level.len() / parts];
                start
                    .clone()
                    .expect("only the first subtree starts unbounded")
            })
            .collect();
        Ok(cuts)
    }

    /// Frees every page of the tree, the root and overflow pages included
    /// (`DROP TABLE`). The handle is dead afterwards.
    pub fn destroy(&self, pages: &mut impl PagesMut) -> Result<(), BTreeError> {
        self.free_pages(pages, false)
    }

    /// Empties the tree (`TRUNCATE`): frees every page but the root, which
    /// becomes an empty leaf.
    pub fn clear(&self, pages: &mut impl PagesMut) -> Result<(), BTreeError> {
        self.free_pages(pages, true)?;
        self.reset_root(pages)
    }

    fn free_pages(&self, pages: &mut impl PagesMut, keep_root: bool) -> Result<(), BTreeError> {
        let mut seen = HashSet::new();
        let mut stack = vec![(self.root, None)];
        while let Some((id, level)) = stack.pop() {
            if !seen.insert(id) {
                return Err(corrupted(id, "page reached twice"));
            }
            let page_ref = pages.get(id)?;
            let page = parse_node(id, &page_ref, level)?;
            for cell in page.cells() {
                if page.level() == 0 {
                    free_value(pages, &leaf_entry(id, cell)?.value)?;
                } else {
                    let (child, _) = internal_entry(id, cell)?;
                    stack.push((child, Some(page.level() - 1)));
                }
            }
            if id != self.root || !keep_root {
                pages.free(id)?;
            }
        }
        Ok(())
    }

    /// Checks every invariant of the tree (see `check`) and counts its pages
    /// and entries. Reads the whole tree: for tests and debugging.
    pub fn check(&self, pages: &impl Pages) -> Result<TreeStats, BTreeError> {
        check::check(pages, self.root)
    }
}
