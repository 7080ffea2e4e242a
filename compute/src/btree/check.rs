//! The full consistency check of a tree, for tests and debugging.
//!
//! It reads every page of the tree once and verifies every invariant the
//! operations maintain, so a test that calls it after each operation catches
//! a broken tree at the operation that broke it, not at a later lookup that
//! happens to go astray.

use std::collections::HashSet;

use super::node::{internal_entry, leaf_entry, parse_node, Value};
use super::{corrupted, overflow, BTreeError};
use crate::page::SlottedPage;
use crate::pages::{PageId, Pages};

/// What [`BTree::check`](super::BTree::check) found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TreeStats {
    /// Height: 1 for a tree that is one leaf.
    pub levels: u16,
    /// Internal pages.
    pub internal_pages: u64,
    /// Leaf pages.
    pub leaf_pages: u64,
    /// Overflow pages.
    pub overflow_pages: u64,
    /// Key-value entries.
    pub entries: u64,
    /// Bytes of slots and cells in leaves (fill = this / (leaves × space)).
    pub leaf_bytes_used: u64,
}

impl TreeStats {
    /// Every page the tree holds.
    pub fn pages(&self) -> u64 {
        self.internal_pages + self.leaf_pages + self.overflow_pages
    }
}

struct Checker<'p, P: Pages> {
    pages: &'p P,
    root: PageId,
    seen: HashSet<PageId>,
    /// Leaves in key order with their (left, right) links.
    leaves: Vec<(PageId, Option<PageId>, Option<PageId>)>,
    stats: TreeStats,
}

/// Checks the tree rooted at `root`:
/// * every page is reached once (no page shared, no cycle);
/// * nodes are slotted leaf or internal pages with non-overlapping cells,
///   and every child is one level below its parent;
/// * keys are strictly ascending within each leaf and lie within the range
///   the separators above give them; separators are strictly ascending and
///   within their node's range; cell 0 of an internal node has an empty key;
/// * only the root may be an empty leaf; an internal root has at least two
///   children, other internal nodes at least one;
/// * the leaves' sibling links chain all leaves in key order, both ways;
/// * overflow chains have the right type, length and chunk sizes.
pub(super) fn check(pages: &impl Pages, root: PageId) -> Result<TreeStats, BTreeError> {
    let mut checker = Checker {
        pages,
        root,
        seen: HashSet::new(),
        leaves: Vec::new(),
        stats: TreeStats::default(),
    };
    checker.node(root, None, None, None)?;
    let leaves = &checker.leaves;
    for (i, &(id, left, right)) in leaves.iter().enumerate() {
        let want_left = i.checked_sub(1).map(|j| leaves[j].0);
        let want_right = leaves.get(i + 1).map(|l| l.0);
        if left != want_left || right != want_right {
            return Err(corrupted(
                id,
                format!(
                    "sibling links {left:?} <-> {right:?}, expected {want_left:?} <-> {want_right:?}"
                ),
            ));
        }
    }
    Ok(checker.stats)
}

impl<P: Pages> Checker<'_, P> {
    /// Checks the subtree at `id`, whose keys must lie in `[lower, upper)`
    /// (`None`: unbounded).
    fn node(
        &mut self,
        id: PageId,
        level: Option<u16>,
        lower: Option<&[u8]>,
        upper: Option<&[u8]>,
    ) -> Result<(), BTreeError> {
        if !self.seen.insert(id) {
            return Err(corrupted(id, "page reached twice"));
        }
        let page_ref = self.pages.get(id)?;
        let page = parse_node(id, &page_ref, level)?;
        page.check_layout()?;
        let is_root = id == self.root;
        if is_root {
            self.stats.levels = page.level() + 1;
        }
        let in_range = |key: &[u8]| lower.is_none_or(|l| key >= l) && upper.is_none_or(|u| key < u);
        if page.level() == 0 {
            return self.leaf(&page, is_root, in_range);
        }
        self.stats.internal_pages += 1;
        let count = page.slot_count();
        if count < if is_root { 2 } else { 1 } {
            return Err(corrupted(
                id,
                format!("internal node with {count} children"),
            ));
        }
        let mut children = Vec::with_capacity(count);
        // Separators rise strictly from the lower bound: one equal to the
        // bound or to the separator before it would give a child an empty
        // range.
        let mut prev = lower;
        for (i, cell) in page.cells().enumerate() {
            let (child, key) = internal_entry(id, cell)?;
            if i == 0 {
                if !key.is_empty() {
                    return Err(corrupted(id, "cell 0 of an internal node has a key"));
                }
            } else {
                if prev.is_some_and(|p| key <= p) || upper.is_some_and(|u| key >= u) {
                    return Err(corrupted(id, format!("separator {i} is out of order")));
                }
                prev = Some(key);
            }
            children.push((child, key));
        }
        for (i, &(child, key)) in children.iter().enumerate() {
            let lo = if i == 0 { lower } else { Some(key) };
            let hi = children.get(i + 1).map(|&(_, k)| k).or(upper);
            self.node(child, Some(page.level() - 1), lo, hi)?;
        }
        Ok(())
    }

    fn leaf(
        &mut self,
        page: &SlottedPage<'_>,
        is_root: bool,
        in_range: impl Fn(&[u8]) -> bool,
    ) -> Result<(), BTreeError> {
        let id = page.id();
        self.stats.leaf_pages += 1;
        self.stats.leaf_bytes_used += page.used_bytes() as u64;
        if page.slot_count() == 0 && !is_root {
            return Err(corrupted(id, "an empty leaf that is not the root"));
        }
        let mut prev: Option<&[u8]> = None;
        for cell in page.cells() {
            let entry = leaf_entry(id, cell)?;
            if prev.is_some_and(|p| entry.key <= p) || !in_range(entry.key) {
                return Err(corrupted(id, "leaf keys out of order or out of range"));
            }
            prev = Some(entry.key);
            if let Value::Overflow { len, first } = entry.value {
                for overflow_page in overflow::chain(self.pages, first, len)? {
                    if !self.seen.insert(overflow_page) {
                        return Err(corrupted(overflow_page, "overflow page reached twice"));
                    }
                    self.stats.overflow_pages += 1;
                }
            }
            self.stats.entries += 1;
        }
        self.leaves.push((id, page.left(), page.right()));
        Ok(())
    }
}
