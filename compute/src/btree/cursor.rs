//! Ordered scans: point, range and full scans in either direction.
//!
//! A cursor descends once, to the leaf where its range starts, and from
//! there follows the leaves' sibling links, so a scan reads each leaf once
//! and internal nodes only at the start. It holds the current leaf as a
//! [`PageRef`] (a shared, immutable page version) and a slot index, and no
//! borrow of page bytes between calls; the `&P` it keeps is the one snapshot
//! it reads.
//!
//! A long scan reads ahead: the leaves it will visit next are the next
//! children of its leaf's parent, so once it has crossed a few leaves it
//! hands the next ones to [`Pages::prefetch`] in a batch (a window that
//! doubles up to [`READAHEAD_MAX`] leaves), and a page source that reads
//! storage fetches them with concurrent requests instead of one round trip
//! per leaf. Point lookups and short ranges never read ahead.
//!
//! Sibling links are checked as they are followed: the next leaf must be a
//! leaf that links back, must not be empty (only the root leaf may be), and
//! its first key must continue the order. The last check also means a corrupt
//! link cannot make a scan loop: keys would have to go back.

use std::iter::FusedIterator;
use std::ops::Bound;

use super::node::{internal_entry, leaf_entry, leaf_key, leaf_search, parse_node, Value};
use super::{corrupted, descend, read_value, BTreeError, KeyValue, Target};
use crate::page::SlottedPage;
use crate::pages::{PageId, PageRef, Pages};

/// Scan order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Ascending keys.
    Forward,
    /// Descending keys.
    Backward,
}

enum State {
    /// Not positioned yet: the first `next` descends.
    Start,
    /// On a leaf. Forward, `slot` is the next cell to yield; backward, it is
    /// one past it (0: this leaf is done).
    At {
        leaf: PageId,
        page: PageRef,
        slot: usize,
    },
    /// Exhausted, or failed once.
    Done,
}

/// An iterator over the entries of a key range, in key order or its
/// reverse. Made by [`BTree::range`](super::BTree::range). After an error it
/// yields nothing more.
pub struct Cursor<'a, P: Pages> {
    pages: &'a P,
    root: PageId,
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    dir: Direction,
    state: State,
    ahead: Readahead,
}

/// Leaves a scan crosses before it starts reading ahead.
pub(super) const READAHEAD_AFTER: usize = 2;
/// The first readahead window, in leaves.
const READAHEAD_MIN: usize = 4;
/// The largest readahead window, in leaves (256 KiB of 8 KiB pages).
pub const READAHEAD_MAX: usize = 32;

/// Where a scan is among its leaf's siblings, and what it asked for ahead.
#[derive(Default)]
struct Readahead {
    /// Leaves entered through sibling links.
    leaves: usize,
    /// The children of the current leaf's parent, in key order.
    siblings: Vec<PageId>,
    /// The current leaf's position among `siblings`, counted in scan order.
    pos: usize,
    /// Positions before this one (in scan order) were prefetched.
    issued: usize,
    /// The next batch's size.
    window: usize,
    /// Set when the tree did not look as expected; the scan itself reports
    /// any damage, readahead just stops.
    off: bool,
}

impl Readahead {
    /// The sibling at scan-order position `pos`.
    fn at(&self, dir: Direction, pos: usize) -> PageId {
        match dir {
            Direction::Forward => self.siblings[pos],
            Direction::Backward => self.siblings[self.siblings.len() - 1 - pos],
        }
    }
}

impl<P: Pages> std::fmt::Debug for Cursor<'_, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let position = match &self.state {
            State::Start => "start".to_string(),
            State::At { leaf, slot, .. } => format!("leaf {leaf} slot {slot}"),
            State::Done => "done".to_string(),
        };
        f.debug_struct("Cursor")
            .field("root", &self.root)
            .field("lower", &self.lower)
            .field("upper", &self.upper)
            .field("dir", &self.dir)
            .field("position", &position)
            .finish()
    }
}

fn owned(bound: Bound<&[u8]>) -> Bound<Vec<u8>> {
    match bound {
        Bound::Included(k) => Bound::Included(k.to_vec()),
        Bound::Excluded(k) => Bound::Excluded(k.to_vec()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

impl<'a, P: Pages> Cursor<'a, P> {
    pub(super) fn new(
        pages: &'a P,
        root: PageId,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        dir: Direction,
    ) -> Cursor<'a, P> {
        Cursor {
            pages,
            root,
            lower: owned(lower),
            upper: owned(upper),
            dir,
            state: State::Start,
            ahead: Readahead::default(),
        }
    }

    /// Called on entering leaf `leaf` (whose first key in scan order is
    /// `first`) through a sibling link: finds it among its parent's
    /// children (descending again when it moved to the next parent) and,
    /// once the scan is long enough, prefetches the next window of leaves.
    fn read_ahead(&mut self, leaf: PageId, first: &[u8]) {
        let a = &mut self.ahead;
        a.leaves += 1;
        if a.off || a.leaves < READAHEAD_AFTER {
            return;
        }
        let next = a.pos + 1;
        if next < a.siblings.len() && a.at(self.dir, next) == leaf {
            a.pos = next;
        } else if !self.locate(leaf, first) {
            self.ahead.off = true;
            return;
        }
        let a = &mut self.ahead;
        // Ask again once half the last batch is read.
        if a.issued > a.pos + a.window / 2 {
            return;
        }
        a.window = (a.window * 2).clamp(READAHEAD_MIN, READAHEAD_MAX);
        let from = a.issued.max(a.pos + 1);
        let to = (a.pos + 1 + a.window).min(a.siblings.len());
        if from < to {
            let ids: Vec<PageId> = (from..to).map(|p| a.at(self.dir, p)).collect();
            a.issued = to;
            self.pages.prefetch(&ids);
        }
    }

    /// Finds `leaf`'s parent by descending to the key `first`, and takes
    /// its children as the scan's siblings. False if the descent does not
    /// end at `leaf` or fails.
    fn locate(&mut self, leaf: PageId, first: &[u8]) -> bool {
        let Ok(d) = descend(self.pages, self.root, Target::Key(first)) else {
            return false;
        };
        let Some(step) = d.path.last() else {
            return false;
        };
        if d.leaf != leaf {
            return false;
        }
        let Ok(parent) = self.pages.get(step.page) else {
            return false;
        };
        let Ok(node) = parse_node(step.page, &parent, Some(1)) else {
            return false;
        };
        let mut siblings = Vec::with_capacity(node.slot_count());
        for i in 0..node.slot_count() {
            match internal_entry(step.page, node.cell(i)) {
                Ok((child, _)) => siblings.push(child),
                Err(_) => return false,
            }
        }
        let pos = match self.dir {
            Direction::Forward => step.index,
            Direction::Backward => siblings.len() - 1 - step.index,
        };
        let a = &mut self.ahead;
        a.siblings = siblings;
        a.pos = pos;
        a.issued = pos + 1;
        a.at(self.dir, pos) == leaf
    }

    /// Descends to the leaf where the range starts in this direction.
    fn seek(&self) -> Result<State, BTreeError> {
        let start = match self.dir {
            Direction::Forward => &self.lower,
            Direction::Backward => &self.upper,
        };
        let target = match start {
            Bound::Included(k) | Bound::Excluded(k) => Target::Key(k),
            Bound::Unbounded if self.dir == Direction::Forward => Target::First,
            Bound::Unbounded => Target::Last,
        };
        let d = descend(self.pages, self.root, target)?;
        let leaf = SlottedPage::parsed_before(d.leaf, &d.page);
        let slot = match (self.dir, start) {
            (Direction::Forward, Bound::Unbounded) => 0,
            (Direction::Backward, Bound::Unbounded) => leaf.slot_count(),
            (_, Bound::Included(k) | Bound::Excluded(k)) => {
                let inclusive = matches!(start, Bound::Included(_));
                match (leaf_search(&leaf, k)?, self.dir, inclusive) {
                    (Ok(i), Direction::Forward, true) | (Ok(i), Direction::Backward, false) => i,
                    (Ok(i), _, _) => i + 1,
                    (Err(i), _, _) => i,
                }
            }
        };
        Ok(State::At {
            leaf: d.leaf,
            page: d.page,
            slot,
        })
    }

    /// Whether `key` is past the end of the range in this direction.
    fn past_end(&self, key: &[u8]) -> bool {
        match (self.dir, &self.upper, &self.lower) {
            (Direction::Forward, Bound::Included(u), _) => key > &u[..],
            (Direction::Forward, Bound::Excluded(u), _) => key >= &u[..],
            (Direction::Backward, _, Bound::Included(l)) => key < &l[..],
            (Direction::Backward, _, Bound::Excluded(l)) => key <= &l[..],
            (_, _, _) => false,
        }
    }

    /// The next entry, handed to `f` as borrowed key and value bytes (an
    /// overflow value read into a buffer first) rather than copied out as
    /// [`Iterator::next`] does: a scan that decodes each row once saves a
    /// copy of every value. `None` at the end; after an error, nothing more.
    // Inlined into each scan's loop whatever codegen unit the scan lands
    // in: a change elsewhere once moved it apart, and a full scan took 7%
    // longer for the call per row.
    #[inline]
    pub fn next_with<R>(
        &mut self,
        f: impl FnOnce(&[u8], &[u8]) -> R,
    ) -> Option<Result<R, BTreeError>> {
        match self.step_with(f) {
            Ok(Some(r)) => Some(Ok(r)),
            Ok(None) => {
                self.state = State::Done;
                None
            }
            Err(e) => {
                self.state = State::Done;
                Some(Err(e))
            }
        }
    }

    #[inline]
    fn step_with<R>(&mut self, f: impl FnOnce(&[u8], &[u8]) -> R) -> Result<Option<R>, BTreeError> {
        if let State::Start = self.state {
            self.state = self.seek()?;
        }
        loop {
            let State::At {
                leaf: id,
                page,
                slot,
            } = &self.state
            else {
                return Ok(None);
            };
            let (id, page_ref, slot) = (*id, page.clone(), *slot);
            let leaf = SlottedPage::parsed_before(id, &page_ref);
            let count = leaf.slot_count();
            let here = match self.dir {
                Direction::Forward => (slot < count).then_some(slot),
                Direction::Backward => slot.checked_sub(1),
            };
            if let Some(index) = here {
                let entry = leaf_entry(id, leaf.cell(index))?;
                if self.past_end(entry.key) {
                    return Ok(None);
                }
                let out = match entry.value {
                    Value::Inline(v) => f(entry.key, v),
                    Value::Overflow { .. } => f(entry.key, &read_value(self.pages, &entry.value)?),
                };
                let next = match self.dir {
                    Direction::Forward => index + 1,
                    Direction::Backward => index,
                };
                self.state = State::At {
                    leaf: id,
                    page: page_ref,
                    slot: next,
                };
                return Ok(Some(out));
            }
            // This leaf is done: move to its sibling.
            let sibling = match self.dir {
                Direction::Forward => leaf.right(),
                Direction::Backward => leaf.left(),
            };
            let Some(sibling) = sibling else {
                return Ok(None);
            };
            // The key the sibling has to continue from.
            let edge = match (self.dir, count) {
                (_, 0) => None,
                (Direction::Forward, _) => Some(leaf_key(id, leaf.cell(count - 1))?),
                (Direction::Backward, _) => Some(leaf_key(id, leaf.cell(0))?),
            };
            let next_ref = self.pages.get(sibling)?;
            let next = parse_node(sibling, &next_ref, Some(0))?;
            let back = match self.dir {
                Direction::Forward => next.left(),
                Direction::Backward => next.right(),
            };
            if back != Some(id) {
                return Err(corrupted(
                    sibling,
                    format!("sibling of leaf {id} does not link back"),
                ));
            }
            let next_count = next.slot_count();
            if next_count == 0 {
                return Err(corrupted(sibling, "an empty leaf that is not the root"));
            }
            let continues = match self.dir {
                Direction::Forward => leaf_key(sibling, next.cell(0))?,
                Direction::Backward => leaf_key(sibling, next.cell(next_count - 1))?,
            };
            let in_order = match (self.dir, edge) {
                (_, None) => true,
                (Direction::Forward, Some(edge)) => continues > edge,
                (Direction::Backward, Some(edge)) => continues < edge,
            };
            if !in_order {
                return Err(corrupted(
                    sibling,
                    format!("keys out of order after leaf {id}"),
                ));
            }
            self.read_ahead(sibling, continues);
            touch_lines(&next_ref[..]);
            let slot = match self.dir {
                Direction::Forward => 0,
                Direction::Backward => next_count,
            };
            self.state = State::At {
                leaf: sibling,
                page: next_ref,
                slot,
            };
        }
    }
}

/// Reads one byte of every cache line of a leaf the cursor moves to. The
/// loads do not depend on each other, so the processor has many of them in
/// flight at once; the cells read next, scattered over the page (a jsonb
/// document's keys, its offsets at its end, a value in between), then come
/// from cache rather than each waiting on memory in turn.
#[inline]
fn touch_lines(page: &[u8]) {
    let mut seen = 0u8;
    for line in page.iter().step_by(64) {
        seen ^= *line;
    }
    std::hint::black_box(seen);
}

impl<P: Pages> Iterator for Cursor<'_, P> {
    type Item = Result<KeyValue, BTreeError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_with(|k, v| (k.to_vec(), v.to_vec()))
    }
}

impl<P: Pages> FusedIterator for Cursor<'_, P> {}
