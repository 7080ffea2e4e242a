//! The reference model: what the volume must contain.
//!
//! The model is the volume's committed log, kept as page histories: every
//! record of every MTR that is part of the volume's history, by LSN. An MTR
//! joins the model when its writer sees it acknowledged (the VDL passes its
//! commit LSN) while no later epoch exists, or when a recovery keeps it. The
//! checkers in `world.rs` make sure nothing in the model is ever lost and that
//! recovery adds whole MTRs in submission order only, so the model only grows
//! at its end: a page read at an LSN at or below any writer's VDL has exactly
//! one right answer, the model's.

use std::collections::HashMap;

use sextant_storage::types::{reconstruct_page, Epoch, Lsn, PageId, PgId, RecordBody};

/// One mini-transaction a writer submitted.
#[derive(Clone, Debug)]
pub struct Mtr {
    /// The writer's epoch.
    pub epoch: Epoch,
    /// LSN of its first record; record `i` has LSN `first + i`.
    pub first: Lsn,
    /// LSN of its last record (the CPL).
    pub commit: Lsn,
    /// The changes, in record order.
    pub changes: Vec<(PageId, RecordBody)>,
    /// Virtual time of the submit.
    pub submitted_ms: u64,
}

impl Mtr {
    /// The records as `(lsn, page, body)`.
    pub fn records(&self) -> impl Iterator<Item = (Lsn, PageId, &RecordBody)> + '_ {
        self.changes
            .iter()
            .enumerate()
            .map(|(i, (p, b))| (Lsn(self.first.0 + i as u64), *p, b))
    }
}

/// Page histories of the committed log.
#[derive(Default)]
pub struct Model {
    pages: HashMap<PageId, Vec<(Lsn, RecordBody)>>,
    /// Highest LSN added: the model grows only at its end.
    last: Lsn,
}

impl Model {
    /// Adds an MTR to the committed log.
    pub fn add(&mut self, mtr: &Mtr) {
        for (lsn, page, body) in mtr.records() {
            assert!(
                lsn > self.last,
                "model grows only at its end: {lsn} after {}",
                self.last
            );
            self.last = lsn;
            self.pages
                .entry(page)
                .or_default()
                .push((lsn, body.clone()));
        }
    }

    /// The page as of `lsn`.
    pub fn page_at(&self, page: PageId, lsn: Lsn) -> Box<[u8]> {
        let versions = self.pages.get(&page).map(|v| v.as_slice()).unwrap_or(&[]);
        let upto = versions.partition_point(|(l, _)| *l <= lsn);
        reconstruct_page(None, versions[..upto].iter().map(|(_, b)| b))
    }

    /// Pages with any record, in order.
    pub fn pages(&self) -> Vec<PageId> {
        let mut v: Vec<PageId> = self.pages.keys().copied().collect();
        v.sort();
        v
    }

    /// Pages of `pg` with any record.
    pub fn pages_in(&self, pg: PgId, pages_per_pg: u64) -> Vec<PageId> {
        self.pages()
            .into_iter()
            .filter(|p| p.pg(pages_per_pg) == pg)
            .collect()
    }

    /// Number of records in the committed log.
    pub fn record_count(&self) -> usize {
        self.pages.values().map(Vec::len).sum()
    }
}
