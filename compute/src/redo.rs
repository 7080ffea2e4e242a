//! Redo from page changes: the byte ranges one commit changed in a page.
//!
//! Storage never interprets pages, so the engine describes each change as
//! copies of bytes (`RecordBody::Delta`) or, when most of the page changed,
//! as the whole page (`RecordBody::Image`), which is smaller to ship and
//! cheaper for storage to apply than many deltas.

use bytes::Bytes;
use sextant_storage::types::{RecordBody, PAGE_SIZE};

/// Changed runs closer than this are sent as one delta: a delta header costs
/// about as much as this many unchanged bytes.
pub const DELTA_MERGE_GAP: usize = 32;
/// Past this many changed bytes (after merging) the whole page is sent.
pub const IMAGE_THRESHOLD: usize = PAGE_SIZE / 2;

/// The records that turn `before` into `after`; empty if they are equal.
pub fn diff(before: &[u8], after: &[u8]) -> Vec<RecordBody> {
    diff_from(before, after, 0)
}

/// Like [`diff`], looking only at bytes from `start` on.
pub fn diff_from(before: &[u8], after: &[u8], start: usize) -> Vec<RecordBody> {
    assert_eq!(before.len(), PAGE_SIZE);
    assert_eq!(after.len(), PAGE_SIZE);
    let mut runs: Vec<(usize, usize)> = Vec::new(); // [start, end)
    let mut i = start;
    while i < PAGE_SIZE {
        if before[i] == after[i] {
            i += 1;
            continue;
        }
        let start = i;
        while i < PAGE_SIZE && before[i] != after[i] {
            i += 1;
        }
        match runs.last_mut() {
            Some((_, end)) if start - *end <= DELTA_MERGE_GAP => *end = i,
            _ => runs.push((start, i)),
        }
    }
    let changed: usize = runs.iter().map(|(s, e)| e - s).sum();
    if changed > IMAGE_THRESHOLD {
        return vec![RecordBody::Image(Bytes::copy_from_slice(after))];
    }
    runs.into_iter()
        .map(|(s, e)| RecordBody::Delta {
            offset: u16::try_from(s).expect("offset within a page"),
            bytes: Bytes::copy_from_slice(&after[s..e]),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Applying the diff to `before` yields `after`.
        #[test]
        fn diff_applies_back(
            seed in any::<u8>(),
            writes in proptest::collection::vec((0usize..PAGE_SIZE, proptest::collection::vec(any::<u8>(), 1..64)), 0..40),
        ) {
            let before = vec![seed; PAGE_SIZE];
            let mut after = before.clone();
            for (off, bytes) in writes {
                let n = bytes.len().min(PAGE_SIZE - off);
                after[off..off + n].copy_from_slice(&bytes[..n]);
            }
            let mut page = before.clone();
            for r in diff(&before, &after) {
                r.apply(&mut page);
            }
            prop_assert_eq!(page, after);
        }
    }

    #[test]
    fn small_change_is_a_small_delta_and_big_change_an_image() {
        let before = vec![0u8; PAGE_SIZE];
        let mut after = before.clone();
        after[100] = 1;
        after[110] = 1;
        let d = diff(&before, &after);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].len(), 11);
        let all = vec![7u8; PAGE_SIZE];
        assert!(matches!(diff(&before, &all)[..], [RecordBody::Image(_)]));
        assert!(diff(&before, &before).is_empty());
    }
}
