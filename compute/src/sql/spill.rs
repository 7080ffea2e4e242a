//! Spilling to disk for the executor's memory-hungry nodes: sorts, hash
//! aggregations and hash joins keep at most `work_mem` bytes of rows in
//! memory (PostgreSQL's setting, 4MB by default) and write the rest to
//! temporary files, so a query over more data than memory finishes.
//!
//! - A sort ([`ExternalSort`]) buffers rows up to the budget, sorts the
//!   buffer and writes it out as a sorted run; at the end the runs are
//!   merged, at most [`merge_fanin`] at a time (more runs are first merged
//!   into longer runs). The merge takes equal keys from earlier runs first,
//!   so the result is the stable order an in-memory sort gives.
//! - A hash aggregation or hash join that outgrows the budget writes rows
//!   to [`PARTITIONS`] files by a hash of their key ([`Partitions`]) and
//!   then works partition by partition, partitioning again (with another
//!   hash) a partition that is still too big, down to [`SPILL_DEPTH_MAX`]
//!   levels: past that the keys are so skewed that partitioning cannot
//!   split them, and the partition is worked in memory.
//!
//! Files are anonymous temporary files (`tempfile::tempfile`, unlinked at
//! creation), so they vanish when the node drops them, when the statement
//! fails, and when the process dies. Records are `len u32 (BE) | row` with
//! the row in the storage row encoding ([`crate::datum::encode_row`]),
//! which keeps every value exactly.
//!
//! Row sizes are estimates of what the rows occupy in memory
//! ([`row_bytes`]); [`WorkMem`] records the largest amount any one node
//! held, and what it spilled, for EXPLAIN ANALYZE and tests.

use std::cell::Cell;
use std::cmp::Ordering;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write as _};
use std::mem::size_of;

use crate::datum::{decode_row, encode_row, Datum};
use crate::sql::error::{code, SqlError};
use crate::sql::exec::{cmp_sort, Row};
use crate::sql::expr::SortKey;

/// `work_mem`'s default, as in PostgreSQL: 4MB.
pub const WORK_MEM_DEFAULT_BYTES: usize = 4 << 20;
/// `work_mem`'s floor, as in PostgreSQL: 64kB.
pub const WORK_MEM_MIN_BYTES: usize = 64 << 10;
/// Buffer of each temporary file being written or read: big enough for
/// sequential I/O, small enough that a merge's open runs fit the budget.
const FILE_BUFFER_BYTES: usize = 4 << 10;
/// Fewest runs one merge reads at a time, whatever the budget (PostgreSQL's
/// MINORDER): fewer would mean many more passes over the data.
const MERGE_FANIN_MIN: usize = 6;
/// Most runs one merge reads at a time, whatever the budget: each costs a
/// comparison per row in the linear head scan.
const MERGE_FANIN_MAX: usize = 64;
/// Files a spilling hash node splits its rows into per level: each
/// partition is then about 1/16 of the input.
pub const PARTITIONS: usize = 16;
/// Most times a partition is partitioned again. 16^6 partitions split any
/// input that distinct keys can split; one that is still too big is
/// dominated by a few keys, and is worked in memory.
pub const SPILL_DEPTH_MAX: u32 = 6;
/// Largest record a temporary file may hold; a bigger length is corruption
/// (rows are at most 1GB, like PostgreSQL's values).
const RECORD_BYTES_MAX: u32 = 1 << 30;

const _: () = assert!(WORK_MEM_MIN_BYTES >= MERGE_FANIN_MIN * FILE_BUFFER_BYTES);

/// What spilling did during one statement.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpillReport {
    /// Sorted runs written by sorts (merge passes included).
    pub sort_runs: u64,
    /// Partition files written by hash aggregations.
    pub agg_partitions: u64,
    /// Partition files written by hash joins (both sides).
    pub join_partitions: u64,
    /// Bytes written to temporary files.
    pub written_bytes: u64,
    /// The most rows any one node held in memory at once, in estimated
    /// bytes.
    pub peak_bytes: u64,
    /// Index range scans read as full table scans because the range
    /// covered much of the index (not spilling, but reported with it by
    /// `EXPLAIN ANALYZE`, as what the plan did at run time).
    pub wide_index_ranges: u64,
    /// Hash aggregations whose table scan several threads read (not
    /// spilling either, but what the plan did at run time).
    pub parallel_aggregates: u64,
    /// The most threads one of them used.
    pub parallel_threads: u64,
}

/// A statement's memory budget per node, and what spilling did.
#[derive(Debug)]
pub struct WorkMem {
    limit_bytes: usize,
    report: Cell<SpillReport>,
}

impl WorkMem {
    /// A budget of `limit_bytes` per node.
    pub fn new(limit_bytes: usize) -> WorkMem {
        assert!(
            limit_bytes >= WORK_MEM_MIN_BYTES,
            "work_mem {limit_bytes} below the {WORK_MEM_MIN_BYTES} floor"
        );
        WorkMem {
            limit_bytes,
            report: Cell::new(SpillReport::default()),
        }
    }

    /// The budget in bytes.
    pub fn limit_bytes(&self) -> usize {
        self.limit_bytes
    }

    /// What spilling did so far.
    pub fn report(&self) -> SpillReport {
        self.report.get()
    }

    /// Records that a node holds `bytes`.
    pub(crate) fn held(&self, bytes: usize) {
        self.update(|r| r.peak_bytes = r.peak_bytes.max(bytes as u64));
    }

    /// Adds what a parallel worker's budget saw: the parts of one node run
    /// at once, so their peaks add up.
    pub(crate) fn absorb(&self, part: SpillReport, peak_bytes: u64) {
        self.update(|r| {
            r.sort_runs += part.sort_runs;
            r.agg_partitions += part.agg_partitions;
            r.join_partitions += part.join_partitions;
            r.written_bytes += part.written_bytes;
            r.peak_bytes = r.peak_bytes.max(peak_bytes);
            r.wide_index_ranges += part.wide_index_ranges;
        });
    }

    /// Records a hash aggregation run by `threads` threads.
    pub(crate) fn parallel_aggregate(&self, threads: usize) {
        self.update(|r| {
            r.parallel_aggregates += 1;
            r.parallel_threads = r.parallel_threads.max(threads as u64);
        });
    }

    /// Records an index range read as a full scan.
    pub(crate) fn wide_index_range(&self) {
        self.update(|r| r.wide_index_ranges += 1);
    }

    fn update(&self, f: impl FnOnce(&mut SpillReport)) {
        let mut r = self.report.get();
        f(&mut r);
        self.report.set(r);
    }
}

/// Runs one merge reads at a time under a budget of `limit_bytes`: each
/// open run costs a file buffer (and one row).
pub fn merge_fanin(limit_bytes: usize) -> usize {
    (limit_bytes / FILE_BUFFER_BYTES).clamp(MERGE_FANIN_MIN, MERGE_FANIN_MAX)
}

/// Estimated bytes a row occupies in memory.
pub fn row_bytes(row: &[Datum]) -> usize {
    size_of::<Row>() + row.iter().map(datum_bytes).sum::<usize>()
}

fn datum_bytes(d: &Datum) -> usize {
    size_of::<Datum>()
        + match d {
            Datum::Text(s) | Datum::Json(s) => s.len(),
            Datum::Bytea(b) | Datum::Jsonb(b) => b.len(),
            // A digit vector: a heap block of a few dozen bytes.
            Datum::Numeric(_) => 32,
            Datum::Array(a) => size_of::<crate::datum::Array>() + row_bytes(a.items()),
            Datum::Record(fields) => row_bytes(fields),
            _ => 0,
        }
}

fn io_error(what: &str, e: &std::io::Error) -> SqlError {
    if e.kind() == std::io::ErrorKind::StorageFull {
        return SqlError::new(
            code::DISK_FULL,
            format!("could not {what} temporary file: {e}"),
        );
    }
    SqlError::new(
        code::IO_ERROR,
        format!("could not {what} temporary file: {e}"),
    )
}

/// A temporary file being written, one row per record.
pub(crate) struct RunWriter {
    w: BufWriter<File>,
    rows: u64,
    bytes: u64,
    buf: Vec<u8>,
}

impl RunWriter {
    /// A new, empty temporary file.
    pub(crate) fn new() -> Result<RunWriter, SqlError> {
        let file = tempfile::tempfile().map_err(|e| io_error("create", &e))?;
        Ok(RunWriter {
            w: BufWriter::with_capacity(FILE_BUFFER_BYTES, file),
            rows: 0,
            bytes: 0,
            buf: Vec::new(),
        })
    }

    /// Appends a row.
    pub(crate) fn push(&mut self, row: &[Datum]) -> Result<(), SqlError> {
        self.buf.clear();
        self.buf.extend_from_slice(&[0; 4]);
        encode_row(row, &mut self.buf)
            .map_err(|e| SqlError::new(code::PROGRAM_LIMIT_EXCEEDED, e.to_string()))?;
        let len = u32::try_from(self.buf.len() - 4)
            .ok()
            .filter(|&n| n <= RECORD_BYTES_MAX)
            .ok_or_else(|| {
                SqlError::new(
                    code::PROGRAM_LIMIT_EXCEEDED,
                    "row is too big for a temporary file",
                )
            })?;
        self.buf[..4].copy_from_slice(&len.to_be_bytes());
        self.w
            .write_all(&self.buf)
            .map_err(|e| io_error("write to", &e))?;
        self.rows += 1;
        self.bytes += self.buf.len() as u64;
        Ok(())
    }

    /// Bytes written so far.
    pub(crate) fn written_bytes(&self) -> u64 {
        self.bytes
    }

    /// The file, rewound for reading.
    pub(crate) fn finish(self) -> Result<RunReader, SqlError> {
        let mut file = self
            .w
            .into_inner()
            .map_err(|e| io_error("write to", e.error()))?;
        file.seek(SeekFrom::Start(0))
            .map_err(|e| io_error("seek in", &e))?;
        Ok(RunReader {
            r: BufReader::with_capacity(FILE_BUFFER_BYTES, file),
            rows_left: self.rows,
            buf: Vec::new(),
        })
    }
}

/// A temporary file being read back, in the order it was written.
pub(crate) struct RunReader {
    r: BufReader<File>,
    rows_left: u64,
    buf: Vec<u8>,
}

impl RunReader {
    /// The next row, or `None` at the end.
    pub(crate) fn next_row(&mut self) -> Result<Option<Row>, SqlError> {
        if self.rows_left == 0 {
            return Ok(None);
        }
        let mut head = [0u8; 4];
        self.r
            .read_exact(&mut head)
            .map_err(|e| io_error("read from", &e))?;
        let len = u32::from_be_bytes(head);
        if len > RECORD_BYTES_MAX {
            return Err(SqlError::new(
                code::DATA_CORRUPTED,
                format!("temporary file record of {len} bytes"),
            ));
        }
        self.buf.resize(len as usize, 0);
        self.r
            .read_exact(&mut self.buf)
            .map_err(|e| io_error("read from", &e))?;
        self.rows_left -= 1;
        decode_row(&self.buf)
            .map(Some)
            .map_err(|e| SqlError::new(code::DATA_CORRUPTED, format!("temporary file: {e}")))
    }

    /// Calls `f` on every row until it answers `false`.
    pub(crate) fn for_each(
        &mut self,
        f: &mut dyn FnMut(Row) -> Result<bool, SqlError>,
    ) -> Result<(), SqlError> {
        while let Some(r) = self.next_row()? {
            if !f(r)? {
                break;
            }
        }
        Ok(())
    }
}

/// Compares sort keys in `keys`' order and directions.
fn cmp_keys(a: &[Datum], b: &[Datum], keys: &[SortKey]) -> Result<Ordering, SqlError> {
    for (i, k) in keys.iter().enumerate() {
        match cmp_sort(&a[i], &b[i], k.asc, k.nulls_first)? {
            Ordering::Equal => continue,
            o => return Ok(o),
        }
    }
    Ok(Ordering::Equal)
}

/// A bounded sort cuts its buffer back no more often than every this many
/// rows.
const BOUNDED_SORT_ROWS_MIN: usize = 64;

/// A sort that spills sorted runs past the budget and merges them.
pub(crate) struct ExternalSort<'a> {
    keys: &'a [SortKey],
    mem: &'a WorkMem,
    tick: &'a dyn Fn() -> Result<(), SqlError>,
    /// Rows with their evaluated keys, in arrival order.
    buf: Vec<(Row, Row)>,
    buf_bytes: usize,
    /// Sorted runs, in arrival order (a row of run `i` arrived before
    /// every row of run `i + 1`).
    runs: Vec<RunReader>,
    /// Only the first this many rows are wanted (`ORDER BY … LIMIT n`):
    /// the buffer is cut back to them whenever it doubles.
    bound: Option<usize>,
}

impl<'a> ExternalSort<'a> {
    /// An empty sort by `keys`; `tick` checks for cancellation.
    pub(crate) fn new(
        keys: &'a [SortKey],
        mem: &'a WorkMem,
        tick: &'a dyn Fn() -> Result<(), SqlError>,
    ) -> ExternalSort<'a> {
        ExternalSort {
            keys,
            mem,
            tick,
            buf: Vec::new(),
            buf_bytes: 0,
            runs: Vec::new(),
            bound: None,
        }
    }

    /// Keeps only what the first `n` rows in order need: [`Self::finish`]
    /// still returns at least those `n` (all rows when fewer), in the
    /// stable order, but the sort holds about `2n` rows at a time instead
    /// of every row, and sorts them as it goes.
    pub(crate) fn bounded(mut self, n: usize) -> ExternalSort<'a> {
        self.bound = Some(n);
        self
    }

    /// Adds a row with its key values (one per sort key).
    pub(crate) fn push(&mut self, key: Row, row: Row) -> Result<(), SqlError> {
        assert_eq!(key.len(), self.keys.len(), "one value per sort key");
        (self.tick)()?;
        self.buf_bytes += row_bytes(&key) + row_bytes(&row);
        self.buf.push((key, row));
        if let Some(n) = self.bound {
            if self.buf.len() >= n.saturating_mul(2).max(BOUNDED_SORT_ROWS_MIN) {
                // The rows kept arrived before every later one, and the
                // sort is stable: ties still come out in arrival order.
                self.sort_buf()?;
                self.buf.truncate(n);
                self.buf_bytes = self
                    .buf
                    .iter()
                    .map(|(k, r)| row_bytes(k) + row_bytes(r))
                    .sum();
            }
        }
        self.mem.held(self.buf_bytes);
        if self.buf_bytes >= self.mem.limit_bytes() {
            self.spill()?;
        }
        Ok(())
    }

    /// Sorts the buffer (stably) in place.
    fn sort_buf(&mut self) -> Result<(), SqlError> {
        let keys = self.keys;
        let mut err = None;
        self.buf.sort_by(|(a, _), (b, _)| {
            cmp_keys(a, b, keys).unwrap_or_else(|e| {
                err.get_or_insert(e);
                Ordering::Equal
            })
        });
        err.map_or(Ok(()), Err)
    }

    /// Writes the buffer out as a sorted run.
    fn spill(&mut self) -> Result<(), SqlError> {
        self.sort_buf()?;
        (self.tick)()?;
        let mut w = RunWriter::new()?;
        for (k, r) in self.buf.drain(..) {
            (self.tick)()?;
            w.push(&k)?;
            w.push(&r)?;
        }
        self.buf_bytes = 0;
        let written = w.written_bytes();
        self.runs.push(w.finish()?);
        self.mem.update(|r| {
            r.sort_runs += 1;
            r.written_bytes += written;
        });
        Ok(())
    }

    /// The rows in order.
    pub(crate) fn finish(mut self) -> Result<Vec<Row>, SqlError> {
        if self.runs.is_empty() {
            self.sort_buf()?;
            return Ok(self.buf.into_iter().map(|(_, r)| r).collect());
        }
        if !self.buf.is_empty() {
            self.spill()?;
        }
        let fanin = merge_fanin(self.mem.limit_bytes());
        let mut runs = std::mem::take(&mut self.runs);
        // Merge the earliest runs into one until a single merge can read
        // them all; merging a prefix keeps arrival order, so stability.
        while runs.len() > fanin {
            let rest = runs.split_off(fanin);
            let mut w = RunWriter::new()?;
            merge_runs(runs, self.keys, self.tick, &mut |k, r| {
                w.push(&k)?;
                w.push(&r)
            })?;
            let written = w.written_bytes();
            runs = Vec::with_capacity(rest.len() + 1);
            runs.push(w.finish()?);
            runs.extend(rest);
            self.mem.update(|r| {
                r.sort_runs += 1;
                r.written_bytes += written;
            });
        }
        let mut out = Vec::new();
        merge_runs(runs, self.keys, self.tick, &mut |_, r| {
            out.push(r);
            Ok(())
        })?;
        Ok(out)
    }
}

fn next_pair(run: &mut RunReader) -> Result<Option<(Row, Row)>, SqlError> {
    let Some(k) = run.next_row()? else {
        return Ok(None);
    };
    let Some(r) = run.next_row()? else {
        return Err(SqlError::new(
            code::DATA_CORRUPTED,
            "sort run ends between a key and its row",
        ));
    };
    Ok(Some((k, r)))
}

/// Merges sorted runs of (key, row) pairs into `emit`, taking equal keys
/// from the earlier run first.
fn merge_runs(
    mut runs: Vec<RunReader>,
    keys: &[SortKey],
    tick: &dyn Fn() -> Result<(), SqlError>,
    emit: &mut dyn FnMut(Row, Row) -> Result<(), SqlError>,
) -> Result<(), SqlError> {
    let mut heads = Vec::with_capacity(runs.len());
    for run in &mut runs {
        heads.push(next_pair(run)?);
    }
    loop {
        tick()?;
        let mut best: Option<usize> = None;
        for (i, h) in heads.iter().enumerate() {
            let Some((k, _)) = h else { continue };
            best = match best {
                None => Some(i),
                Some(b) => {
                    let (bk, _) = heads[b].as_ref().expect("best is a head");
                    // Strictly less: on a tie the earlier run wins.
                    if cmp_keys(k, bk, keys)? == Ordering::Less {
                        Some(i)
                    } else {
                        Some(b)
                    }
                }
            };
        }
        let Some(b) = best else { return Ok(()) };
        let next = next_pair(&mut runs[b])?;
        let (k, r) = std::mem::replace(&mut heads[b], next).expect("best is a head");
        emit(k, r)?;
    }
}

/// The partition of a hash key at spill level `level`: each level hashes
/// with its own seed, so a partition's rows spread again one level down.
pub(crate) fn partition_of(key: &[u8], level: u32) -> usize {
    // SipHash with fixed keys: the same on every run, so tests repeat.
    let mut h = std::hash::DefaultHasher::new();
    level.hash(&mut h);
    key.hash(&mut h);
    (h.finish() % PARTITIONS as u64) as usize
}

/// Rows split into [`PARTITIONS`] temporary files by key hash.
pub(crate) struct Partitions {
    level: u32,
    files: Vec<Option<RunWriter>>,
}

impl Partitions {
    /// Empty partitions for spill level `level` (the first is 0).
    pub(crate) fn new(level: u32) -> Partitions {
        Partitions {
            level,
            files: (0..PARTITIONS).map(|_| None).collect(),
        }
    }

    /// Writes `row` to the partition of `key`.
    pub(crate) fn push(&mut self, key: &[u8], row: &[Datum]) -> Result<(), SqlError> {
        let p = partition_of(key, self.level);
        if self.files[p].is_none() {
            self.files[p] = Some(RunWriter::new()?);
        }
        self.files[p].as_mut().expect("just made").push(row)
    }

    /// The partitions, rewound, by index (`None`: no row went there), and
    /// the bytes written.
    pub(crate) fn finish(self) -> Result<(Vec<Option<RunReader>>, u64), SqlError> {
        let mut written = 0;
        let mut out = Vec::with_capacity(PARTITIONS);
        for f in self.files {
            out.push(match f {
                None => None,
                Some(w) => {
                    written += w.written_bytes();
                    Some(w.finish()?)
                }
            });
        }
        Ok((out, written))
    }
}

impl WorkMem {
    /// Records a hash aggregation's spilled partitions.
    pub(crate) fn agg_spilled(&self, files: usize, written: u64) {
        self.update(|r| {
            r.agg_partitions += files as u64;
            r.written_bytes += written;
        });
    }

    /// Records a hash join's spilled partitions.
    pub(crate) fn join_spilled(&self, files: usize, written: u64) {
        self.update(|r| {
            r.join_partitions += files as u64;
            r.written_bytes += written;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::expr::Expr;

    fn key(asc: bool) -> SortKey {
        SortKey {
            expr: Expr::Literal(Datum::Null, crate::datum::DataType::Int8),
            asc,
            nulls_first: !asc,
        }
    }

    fn ok() -> Result<(), SqlError> {
        Ok(())
    }

    #[test]
    fn rows_survive_a_temporary_file_exactly() {
        let rows: Vec<Row> = vec![
            vec![Datum::Int4(1), Datum::Text("a|b\n".into()), Datum::Null],
            vec![
                Datum::Numeric("-12.3400".parse().unwrap()),
                Datum::Jsonb(vec![1, 2, 3]),
                Datum::Interval {
                    months: 1,
                    days: -2,
                    micros: 3,
                },
            ],
            vec![],
        ];
        let mut w = RunWriter::new().unwrap();
        for r in &rows {
            w.push(r).unwrap();
        }
        let mut r = w.finish().unwrap();
        let mut back = Vec::new();
        r.for_each(&mut |row| {
            back.push(row);
            Ok(true)
        })
        .unwrap();
        assert_eq!(back, rows);
    }

    /// A sort over 20× the budget writes runs, merges them in more than
    /// one pass, holds no more than the budget plus one row, and returns
    /// what an in-memory stable sort returns.
    #[test]
    fn external_sort_is_the_stable_sort_within_the_budget() {
        let mem = WorkMem::new(WORK_MEM_MIN_BYTES);
        let keys = [key(true), key(false)];
        let tick: &dyn Fn() -> Result<(), SqlError> = &ok;
        let mut s = ExternalSort::new(&keys, &mem, tick);
        let mut expected = Vec::new();
        let mut seed = 7u64;
        let mut biggest = 0;
        for i in 0..20_000i64 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let a = Datum::Int8((seed >> 40) as i64 % 50);
            let b = if i % 7 == 0 {
                Datum::Null
            } else {
                Datum::Text(format!("{}", (seed >> 20) % 100))
            };
            let row = vec![Datum::Int8(i), a.clone(), b.clone()];
            biggest = biggest.max(row_bytes(&row) + row_bytes(&[a.clone(), b.clone()]));
            expected.push((vec![a.clone(), b.clone()], row.clone()));
            s.push(vec![a, b], row).unwrap();
        }
        let got = s.finish().unwrap();
        expected.sort_by(|(a, _), (b, _)| cmp_keys(a, b, &keys).unwrap());
        let expected: Vec<Row> = expected.into_iter().map(|(_, r)| r).collect();
        assert_eq!(got, expected);
        let r = mem.report();
        assert!(
            r.sort_runs as usize > merge_fanin(WORK_MEM_MIN_BYTES) + 1,
            "{r:?}"
        );
        assert!(r.written_bytes > 0, "{r:?}");
        assert!(
            r.peak_bytes as usize <= WORK_MEM_MIN_BYTES + biggest,
            "{r:?}"
        );
    }

    proptest::proptest! {
        /// A bounded sort's first `n` rows are the stable sort's first
        /// `n`, ties in arrival order, whatever the budget (spilled or not),
        /// and it holds about `2n` rows, not every row.
        #[test]
        fn a_bounded_sort_keeps_the_stable_sorts_first_rows(
            vals in proptest::collection::vec(0i64..8, 0..600),
            n in 0usize..120,
            small in proptest::bool::ANY,
        ) {
            let budget = if small { WORK_MEM_MIN_BYTES } else { 64 << 20 };
            let mem = WorkMem::new(budget);
            let keys = [key(true)];
            let tick: &dyn Fn() -> Result<(), SqlError> = &ok;
            let mut s = ExternalSort::new(&keys, &mem, tick).bounded(n);
            let mut expected = Vec::new();
            let mut held_max = 0;
            for (i, v) in vals.iter().enumerate() {
                let row = vec![Datum::Int8(*v), Datum::Int8(i as i64)];
                expected.push(row.clone());
                s.push(vec![Datum::Int8(*v)], row).unwrap();
                held_max = held_max.max(s.buf.len());
            }
            proptest::prop_assert!(held_max <= (2 * n).max(BOUNDED_SORT_ROWS_MIN));
            let mut got = s.finish().unwrap();
            got.truncate(n);
            // Stable: ties keep their arrival order.
            expected.sort_by_key(|r| match r[0] {
                Datum::Int8(v) => v,
                _ => unreachable!("int keys"),
            });
            expected.truncate(n);
            proptest::prop_assert_eq!(got, expected);
        }
    }

    /// A cancelled statement stops the merge, not only the input.
    #[test]
    fn a_merge_stops_when_the_statement_is_cancelled() {
        let mem = WorkMem::new(WORK_MEM_MIN_BYTES);
        let keys = [key(true)];
        let cancelled = Cell::new(false);
        let tick = || {
            if cancelled.get() {
                Err(SqlError::new(code::QUERY_CANCELED, "cancelled"))
            } else {
                Ok(())
            }
        };
        let mut s = ExternalSort::new(&keys, &mem, &tick);
        for i in 0..5000i64 {
            s.push(vec![Datum::Int8(-i)], vec![Datum::Int8(i)]).unwrap();
        }
        assert!(mem.report().sort_runs > 0);
        cancelled.set(true);
        assert_eq!(s.finish().unwrap_err().code, code::QUERY_CANCELED);
    }

    #[test]
    fn partitions_split_keys_and_levels_hash_differently() {
        let mut p = Partitions::new(0);
        let mut at_level_1 = std::collections::BTreeSet::new();
        for i in 0..1000i64 {
            let k = i.to_be_bytes();
            p.push(&k, &[Datum::Int8(i)]).unwrap();
            if partition_of(&k, 0) == 3 {
                at_level_1.insert(partition_of(&k, 1));
            }
        }
        let (parts, written) = p.finish().unwrap();
        assert!(written > 0);
        let mut total = 0;
        for (i, part) in parts.into_iter().enumerate() {
            let mut part = part.expect("1000 keys reach every partition");
            part.for_each(&mut |r| {
                let Datum::Int8(n) = r[0] else { panic!() };
                assert_eq!(partition_of(&n.to_be_bytes(), 0), i);
                total += 1;
                Ok(true)
            })
            .unwrap();
        }
        assert_eq!(total, 1000);
        // Rows of one partition spread over many one level down.
        assert!(at_level_1.len() > PARTITIONS / 2, "{at_level_1:?}");
    }
}
