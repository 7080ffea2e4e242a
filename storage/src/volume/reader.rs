//! Page-read routing for a read replica: the volume without writing.
//!
//! A reader attaches to the writer's volume without recovery and without an
//! epoch: it never writes, so it must never fence the writer. It learns its
//! read point from the writer's redo stream (compute's business) and reads
//! pages at or below it from one replica each, as the writer does. Placement
//! is a pure function of the cluster file (`Cluster::place`), so the reader
//! needs no segment listing to know where a PG lives; what it learns on the
//! way is each replica's SCL (from `NotYet` and served reads), so the next read
//! goes first to a replica known to cover the read point.
//!
//! Reads carry the epoch of the writer whose redo the read point came from:
//! a replica serves them only once it has adopted that epoch's history (a
//! replica cut off during the epoch's recovery may hold records the recovery
//! voided, under LSNs that new records took). The reader follows the newest
//! writer, so its epoch only moves forward.
//!
//! This module is sans-IO, like `core`: `Volume` in reader mode drives it.

use std::collections::HashMap;

use crate::cluster::Cluster;
use crate::types::{Epoch, Lsn, NodeId, PageId, PgId};
use crate::wire::Replica;

/// Where a reader's page reads go. See the module docs.
#[derive(Debug)]
pub struct ReadRouting {
    cluster: Cluster,
    /// Highest SCL each replica of each PG was seen to have.
    scls: HashMap<(PgId, NodeId), Lsn>,
    rotor: usize,
    /// The epoch of the writer the read point comes from.
    epoch: Epoch,
}

impl ReadRouting {
    /// Routing over the replicas `cluster` places, for read points of the
    /// writer of `epoch`.
    pub fn new(cluster: Cluster, epoch: Epoch) -> ReadRouting {
        ReadRouting {
            cluster,
            scls: HashMap::new(),
            rotor: 0,
            epoch,
        }
    }

    /// The epoch reads are made at.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// Follows the writer of `epoch` from now on. Panics if it goes back:
    /// a reader follows only the newest writer.
    pub fn follow(&mut self, epoch: Epoch) {
        assert!(
            epoch >= self.epoch,
            "read epoch moving back from {} to {epoch}",
            self.epoch
        );
        self.epoch = epoch;
    }

    /// The PG of `page` and its replicas, best first: those known to cover
    /// `lsn`, rotated to spread load, then the rest.
    pub fn candidates(&mut self, page: PageId, lsn: Lsn) -> (PgId, Vec<Replica>) {
        let pg = page.pg(self.cluster.pages_per_pg());
        let replicas = self.cluster.place(pg);
        self.rotor = self.rotor.wrapping_add(1);
        let n = replicas.len();
        let mut ready = Vec::with_capacity(n);
        let mut rest = Vec::with_capacity(n);
        for i in 0..n {
            let r = &replicas[(i + self.rotor) % n];
            if self.scls.get(&(pg, r.node)).is_some_and(|s| *s >= lsn) {
                ready.push(r.clone());
            } else {
                rest.push(r.clone());
            }
        }
        ready.extend(rest);
        (pg, ready)
    }

    /// Records that replica `node` of `pg` has at least `scl`.
    pub fn saw_scl(&mut self, pg: PgId, node: NodeId, scl: Lsn) {
        let s = self.scls.entry((pg, node)).or_insert(Lsn::ZERO);
        *s = (*s).max(scl);
    }

    /// SCLs this reader has seen for the replicas of `pg`.
    pub fn replica_scls(&self, pg: PgId) -> Vec<(Replica, Lsn)> {
        self.cluster
            .place(pg)
            .into_iter()
            .map(|r| {
                let scl = self.scls.get(&(pg, r.node)).copied().unwrap_or(Lsn::ZERO);
                (r, scl)
            })
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Six nodes on loopback, two per AZ, 512 KiB segments (for unit tests
    /// that never connect).
    pub(crate) fn cluster() -> Cluster {
        let mut toml = String::from("segment_size = \"512KiB\"\n");
        for i in 0..6u32 {
            let az = ["az-a", "az-b", "az-c"][(i / 2) as usize];
            toml += &format!(
                "[[storage]]\nid = {}\naddr = \"127.0.0.1:{}\"\naz = \"{az}\"\n",
                i + 1,
                7000 + i
            );
        }
        Cluster::parse(&toml).unwrap()
    }

    #[test]
    fn replicas_known_to_cover_the_read_point_come_first() {
        let mut r = ReadRouting::new(cluster(), Epoch(1));
        let (pg, all) = r.candidates(PageId(3), Lsn(10));
        assert_eq!(all.len(), 6);
        let covering = all[4].node;
        r.saw_scl(pg, covering, Lsn(12));
        r.saw_scl(pg, all[5].node, Lsn(9));
        for _ in 0..6 {
            let (_, order) = r.candidates(PageId(3), Lsn(10));
            assert_eq!(
                order[0].node, covering,
                "the covering replica is tried first"
            );
            assert_eq!(order.len(), 6, "the others remain as fallbacks");
        }
        let (_, order) = r.candidates(PageId(3), Lsn(13));
        assert_eq!(order.len(), 6);
    }

    #[test]
    fn reads_follow_the_newest_writers_epoch() {
        let mut r = ReadRouting::new(cluster(), Epoch(1));
        assert_eq!(r.epoch(), Epoch(1));
        r.follow(Epoch(3));
        r.follow(Epoch(3));
        assert_eq!(r.epoch(), Epoch(3));
        let back = std::panic::catch_unwind(move || r.follow(Epoch(2)));
        assert!(back.is_err(), "a reader never goes back to an older writer");
    }

    #[test]
    fn scls_only_move_forward() {
        let mut r = ReadRouting::new(cluster(), Epoch(1));
        let (pg, all) = r.candidates(PageId(0), Lsn(1));
        r.saw_scl(pg, all[0].node, Lsn(20));
        r.saw_scl(pg, all[0].node, Lsn(5));
        let scls = r.replica_scls(pg);
        let got = scls
            .iter()
            .find(|(rep, _)| rep.node == all[0].node)
            .unwrap();
        assert_eq!(got.1, Lsn(20));
    }
}
