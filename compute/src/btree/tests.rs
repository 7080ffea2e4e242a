//! The tree against a `BTreeMap` model, plus page reuse and corruption.

use std::collections::BTreeMap;
use std::ops::Bound;

use proptest::collection::vec;
use proptest::prelude::*;

use super::cursor::READAHEAD_AFTER;
use super::overflow::OVERFLOW_CHUNK_BYTES;
use super::*;
use crate::page::{seal_checksum, verify_checksum, PAGE_CELL_SPACE, PAGE_HEADER_BYTES};
use crate::pages::{MemPages, PAGE_SIZE};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// A value of `len` bytes derived from `seed`, so values differ byte by byte
/// (a chunk written to the wrong place shows) yet shrink well.
#[derive(Clone, Copy, PartialEq, Eq)]
struct ValueSpec {
    len: usize,
    seed: u8,
}

impl ValueSpec {
    fn bytes(self) -> Vec<u8> {
        (0..self.len)
            .map(|i| (i as u8).wrapping_mul(31) ^ (i >> 8) as u8 ^ self.seed)
            .collect()
    }
}

impl std::fmt::Debug for ValueSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "v({}, {})", self.len, self.seed)
    }
}

/// `n` bytes of `b'p'` then `suffix`: keys with long common prefixes make
/// long separators, so internal pages hold few of them and trees get deep.
fn long(n: usize, suffix: &[u8]) -> Vec<u8> {
    let mut key = vec![b'p'; n];
    key.extend_from_slice(suffix);
    key
}

#[derive(Clone, Debug)]
enum Op {
    Put(Vec<u8>, ValueSpec),
    /// Puts `count` keys `long(prefix, n)` for consecutive `n` from `start`
    /// (big-endian, so ascending), in ascending or descending order: bulk
    /// loads, the right-edge split policy, fast growth.
    PutRun {
        prefix: usize,
        start: u16,
        count: u8,
        descending: bool,
        value: ValueSpec,
    },
    /// A put whose key is over the limit: refused, nothing changes.
    PutTooLong(usize),
    Delete(Vec<u8>),
    /// Deletes the `n % len`-th key of the model (a key that exists).
    DeleteNth(usize),
    /// Deletes every key in a range, one by one: mass deletes, merges at
    /// every level, root collapses.
    DeleteRange(Bound<Vec<u8>>, Bound<Vec<u8>>),
    Get(Vec<u8>),
    /// Gets the `n % len`-th key of the model.
    GetNth(usize),
    Range(Bound<Vec<u8>>, Bound<Vec<u8>>, Direction),
    Clear,
}

fn key_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => vec(0u8..4, 0..5),
        3 => vec(any::<u8>(), 0..24),
        4 => (prefix_strategy(), vec(any::<u8>(), 0..4)).prop_map(|(n, suffix)| long(n, &suffix)),
        1 => vec(any::<u8>(), KEY_BYTES_MAX - 4..=KEY_BYTES_MAX),
    ]
}

fn prefix_strategy() -> impl Strategy<Value = usize> {
    prop::sample::select(vec![0usize, 200, 700, 1400, 1990])
}

fn value_strategy() -> impl Strategy<Value = ValueSpec> {
    let len = prop_oneof![
        12 => 0usize..40,
        3 => 40usize..=VALUE_INLINE_MAX,
        1 => prop::sample::select(vec![
            VALUE_INLINE_MAX,
            VALUE_INLINE_MAX + 1,
            OVERFLOW_CHUNK_BYTES,
            OVERFLOW_CHUNK_BYTES + 1,
            2 * OVERFLOW_CHUNK_BYTES,
        ]),
        1 => VALUE_INLINE_MAX + 1..3 * OVERFLOW_CHUNK_BYTES,
    ];
    (len, any::<u8>()).prop_map(|(len, seed)| ValueSpec { len, seed })
}

fn bound_strategy() -> impl Strategy<Value = Bound<Vec<u8>>> {
    prop_oneof![
        1 => Just(Bound::Unbounded),
        2 => key_strategy().prop_map(Bound::Included),
        2 => key_strategy().prop_map(Bound::Excluded),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let dir = prop_oneof![Just(Direction::Forward), Just(Direction::Backward)];
    let run = (
        prefix_strategy(),
        any::<u16>(),
        1u8..64,
        any::<bool>(),
        value_strategy(),
    );
    // Weights: clears and mass deletes are rare enough that trees grow
    // several levels deep between them.
    prop_oneof![
        500 => (key_strategy(), value_strategy()).prop_map(|(k, v)| Op::Put(k, v)),
        40 => run.prop_map(|(prefix, start, count, descending, value)| Op::PutRun {
            prefix, start, count, descending, value
        }),
        5 => (KEY_BYTES_MAX + 1..KEY_BYTES_MAX + 10).prop_map(Op::PutTooLong),
        60 => key_strategy().prop_map(Op::Delete),
        150 => any::<usize>().prop_map(Op::DeleteNth),
        12 => (bound_strategy(), bound_strategy()).prop_map(|(l, u)| Op::DeleteRange(l, u)),
        60 => key_strategy().prop_map(Op::Get),
        40 => any::<usize>().prop_map(Op::GetNth),
        40 => (bound_strategy(), bound_strategy(), dir).prop_map(|(l, u, d)| Op::Range(l, u, d)),
        1 => Just(Op::Clear),
    ]
}

fn as_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(&k[..]),
        Bound::Excluded(k) => Bound::Excluded(&k[..]),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn model_range(
    model: &Model,
    lower: &Bound<Vec<u8>>,
    upper: &Bound<Vec<u8>>,
    dir: Direction,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let in_lower = |k: &[u8]| match lower {
        Bound::Included(l) => k >= &l[..],
        Bound::Excluded(l) => k > &l[..],
        Bound::Unbounded => true,
    };
    let in_upper = |k: &[u8]| match upper {
        Bound::Included(u) => k <= &u[..],
        Bound::Excluded(u) => k < &u[..],
        Bound::Unbounded => true,
    };
    let mut out: Vec<_> = model
        .iter()
        .filter(|(k, _)| in_lower(k) && in_upper(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if dir == Direction::Backward {
        out.reverse();
    }
    out
}

fn scan(
    tree: &BTree,
    pages: &MemPages,
    lower: &Bound<Vec<u8>>,
    upper: &Bound<Vec<u8>>,
    dir: Direction,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    tree.range(pages, as_ref(lower), as_ref(upper), dir)
        .collect::<Result<_, _>>()
        .expect("scan")
}

/// A short description of a key for failure messages.
fn show(key: &[u8]) -> String {
    let p = key.iter().take_while(|&&b| b == b'p').count();
    if p > 8 {
        format!("long({p}, {:?})", &key[p..])
    } else if key.len() > 24 {
        format!("{} bytes {:?}..", key.len(), &key[..8])
    } else {
        format!("{key:?}")
    }
}

/// Runs `ops` against a tree on `MemPages` and the model, comparing every
/// result and checking the whole tree and its page count after every op.
fn run(ops: &[Op]) {
    let mut pages = MemPages::new(PageId(1));
    let base = pages.live_pages();
    let tree = BTree::create(&mut pages).unwrap();
    let mut model = Model::new();
    for (i, op) in ops.iter().enumerate() {
        let ctx = || format!("op {i}: {op:?}");
        match op {
            Op::Put(key, spec) => {
                let value = spec.bytes();
                let got = tree
                    .put(&mut pages, key, &value)
                    .unwrap_or_else(|e| panic!("{}: {e}", ctx()));
                assert_eq!(got, model.insert(key.clone(), value), "{}", ctx());
            }
            Op::PutRun {
                prefix,
                start,
                count,
                descending,
                value,
            } => {
                let value = value.bytes();
                let mut ns: Vec<u32> = (0..u32::from(*count))
                    .map(|i| u32::from(*start) + i)
                    .collect();
                if *descending {
                    ns.reverse();
                }
                for n in ns {
                    let key = long(*prefix, &n.to_be_bytes());
                    let got = tree
                        .put(&mut pages, &key, &value)
                        .unwrap_or_else(|e| panic!("{}: {e}", ctx()));
                    assert_eq!(got, model.insert(key, value.clone()), "{}: put {n}", ctx());
                }
            }
            Op::PutTooLong(len) => {
                let err = tree.put(&mut pages, &vec![1; *len], b"x").unwrap_err();
                assert_eq!(
                    err,
                    BTreeError::KeyTooLarge {
                        len: *len,
                        max: KEY_BYTES_MAX
                    }
                );
            }
            Op::Delete(key) => {
                let got = tree
                    .delete(&mut pages, key)
                    .unwrap_or_else(|e| panic!("{}: {e}", ctx()));
                assert_eq!(got, model.remove(key), "{}", ctx());
            }
            Op::DeleteNth(n) => {
                if model.is_empty() {
                    continue;
                }
                let key = model.keys().nth(n % model.len()).unwrap().clone();
                let got = tree
                    .delete(&mut pages, &key)
                    .unwrap_or_else(|e| panic!("{}: {e}", ctx()));
                assert_eq!(got, model.remove(&key), "{}: delete {}", ctx(), show(&key));
            }
            Op::DeleteRange(lower, upper) => {
                let keys: Vec<Vec<u8>> = model_range(&model, lower, upper, Direction::Forward)
                    .into_iter()
                    .map(|(k, _)| k)
                    .collect();
                for key in keys {
                    let got = tree
                        .delete(&mut pages, &key)
                        .unwrap_or_else(|e| panic!("{}: {e}", ctx()));
                    assert_eq!(got, model.remove(&key), "{}: delete {}", ctx(), show(&key));
                }
            }
            Op::GetNth(n) => {
                if model.is_empty() {
                    continue;
                }
                let (key, value) = model.iter().nth(n % model.len()).unwrap();
                let got = tree
                    .get(&pages, key)
                    .unwrap_or_else(|e| panic!("{}: {e}", ctx()));
                assert_eq!(got.as_ref(), Some(value), "{}: get {}", ctx(), show(key));
            }
            Op::Get(key) => {
                let got = tree
                    .get(&pages, key)
                    .unwrap_or_else(|e| panic!("{}: {e}", ctx()));
                assert_eq!(got.as_ref(), model.get(key), "{}", ctx());
            }
            Op::Range(lower, upper, dir) => {
                let got = scan(&tree, &pages, lower, upper, *dir);
                let want = model_range(&model, lower, upper, *dir);
                assert_eq!(got.len(), want.len(), "{}", ctx());
                assert!(got == want, "{}: scan differs", ctx());
            }
            Op::Clear => {
                tree.clear(&mut pages).unwrap();
                model.clear();
            }
        }
        let stats = tree
            .check(&pages)
            .unwrap_or_else(|e| panic!("{}: check: {e}", ctx()));
        assert_eq!(stats.entries, model.len() as u64, "{}", ctx());
        assert_eq!(
            pages.live_pages() - base,
            stats.pages() as usize,
            "{}: pages leaked",
            ctx()
        );
    }
    let all = (Bound::Unbounded, Bound::Unbounded);
    for dir in [Direction::Forward, Direction::Backward] {
        assert!(
            scan(&tree, &pages, &all.0, &all.1, dir) == model_range(&model, &all.0, &all.1, dir)
        );
    }
    for (k, v) in &model {
        assert_eq!(tree.get(&pages, k).unwrap().as_ref(), Some(v));
    }
    tree.destroy(&mut pages).unwrap();
    assert_eq!(pages.live_pages(), base, "destroy left pages");
}

proptest! {
    // Each case runs up to 2000 ops with a full check after each, about a
    // second in a debug build; PROPTEST_CASES=1000 for a longer hunt.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(24),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn tree_matches_model(ops in vec(op_strategy(), 1..2000)) {
        run(&ops);
    }
}

/// Inserts `keys` with `value` each, then checks.
fn fill(pages: &mut MemPages, tree: &BTree, keys: impl IntoIterator<Item = Vec<u8>>, value: &[u8]) {
    for key in keys {
        tree.put(pages, &key, value).unwrap();
    }
    tree.check(pages).unwrap();
}

/// How full the leaves are: bytes of slots and cells over the space.
fn leaf_fill(stats: &TreeStats) -> f64 {
    stats.leaf_bytes_used as f64 / (stats.leaf_pages as f64 * PAGE_CELL_SPACE as f64)
}

/// A permutation of `0..n` from a fixed linear congruential sequence.
fn shuffled(n: u32, seed: u64) -> Vec<u32> {
    let mut v: Vec<u32> = (0..n).collect();
    let mut s = seed;
    for i in (1..v.len()).rev() {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        v.swap(i, (s >> 33) as usize % (i + 1));
    }
    v
}

#[test]
fn deep_tree_with_long_keys_and_delete_all() {
    let mut pages = MemPages::new(PageId(1));
    let tree = BTree::create(&mut pages).unwrap();
    let keys: Vec<Vec<u8>> = shuffled(600, 7)
        .into_iter()
        .map(|i| long(1990, &i.to_be_bytes()))
        .collect();
    fill(&mut pages, &tree, keys.clone(), b"v");
    let stats = tree.check(&pages).unwrap();
    assert!(stats.levels >= 4, "{stats:?}");
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(tree.delete(&mut pages, key).unwrap(), Some(b"v".to_vec()));
        let stats = tree
            .check(&pages)
            .unwrap_or_else(|e| panic!("after delete {i}: {e}"));
        assert_eq!(stats.entries as usize, keys.len() - i - 1);
    }
    let stats = tree.check(&pages).unwrap();
    assert_eq!((stats.levels, stats.pages()), (1, 1));
}

#[test]
fn freed_pages_are_reused() {
    let mut pages = MemPages::new(PageId(1));
    let tree = BTree::create(&mut pages).unwrap();
    let keys: Vec<Vec<u8>> = (0..3000u32).map(|i| i.to_be_bytes().repeat(8)).collect();
    let big = vec![0xab; 3 * OVERFLOW_CHUNK_BYTES];
    fill(&mut pages, &tree, keys.clone(), &[7; 100]);
    for key in keys.iter().step_by(100) {
        tree.put(&mut pages, key, &big).unwrap();
    }
    let peak = tree.check(&pages).unwrap();
    assert!(
        peak.overflow_pages == 30 * 3 && peak.levels >= 2,
        "{peak:?}"
    );
    let allocated = pages.live_pages() + pages.free_pages();
    for i in shuffled(3000, 1) {
        tree.delete(&mut pages, &keys[i as usize]).unwrap();
    }
    let empty = tree.check(&pages).unwrap();
    assert_eq!((empty.pages(), empty.entries), (1, 0));
    assert_eq!(pages.free_pages() as u64, peak.pages() - 1);
    // Filling again takes pages from the free list, not new ones.
    fill(&mut pages, &tree, keys.clone(), &[7; 100]);
    for key in keys.iter().step_by(100) {
        tree.put(&mut pages, key, &big).unwrap();
    }
    assert_eq!(pages.live_pages() + pages.free_pages(), allocated);
    // Replacing overflowed values with small ones frees their chains.
    let before = pages.free_pages();
    for key in keys.iter().step_by(100) {
        assert_eq!(
            tree.put(&mut pages, key, b"small").unwrap(),
            Some(big.clone())
        );
    }
    assert_eq!(pages.free_pages(), before + 90);
    // Clear keeps only the root; destroy frees it too.
    tree.clear(&mut pages).unwrap();
    assert_eq!(tree.check(&pages).unwrap().pages(), 1);
    assert_eq!(pages.live_pages() + pages.free_pages(), allocated);
    assert_eq!(tree.get(&pages, &keys[5]).unwrap(), None);
    tree.put(&mut pages, b"again", b"1").unwrap();
    assert_eq!(tree.get(&pages, b"again").unwrap(), Some(b"1".to_vec()));
    let live = pages.live_pages();
    tree.destroy(&mut pages).unwrap();
    assert_eq!(pages.live_pages(), live - 1);
}

#[test]
fn ascending_inserts_fill_leaves() {
    let mut pages = MemPages::new(PageId(1));
    let tree = BTree::create(&mut pages).unwrap();
    fill(
        &mut pages,
        &tree,
        (0..20_000u32).map(|i| i.to_be_bytes().to_vec()),
        &[1; 50],
    );
    let stats = tree.check(&pages).unwrap();
    let fill = leaf_fill(&stats);
    assert!(fill > 0.95, "leaf fill {fill:.2}: {stats:?}");
}

/// Ascending runs that land in the middle of the tree, as ingest batches
/// from several producers do, fill their leaves as an ascending load at
/// the right edge does: a split right after the cell written last leaves
/// that cell at the end of the left page, where the run goes on.
#[test]
fn ascending_runs_in_the_middle_fill_leaves() {
    let mut pages = MemPages::new(PageId(1));
    let tree = BTree::create(&mut pages).unwrap();
    let run = 1_000u32;
    // Runs 0, 2, 4, … first, then 1, 3, 5, … between them.
    let order = (0..16).step_by(2).chain((1..16).step_by(2));
    let keys = order.flat_map(|r| (r * run..(r + 1) * run).map(|i| i.to_be_bytes().to_vec()));
    fill(&mut pages, &tree, keys, &[1; 400]);
    let stats = tree.check(&pages).unwrap();
    assert_eq!(stats.entries, 16 * u64::from(run));
    let fill = leaf_fill(&stats);
    assert!(fill > 0.9, "leaf fill {fill:.2}: {stats:?}");
}

/// Keys in random order still split evenly: a new cell that happens to
/// follow the one written last moves the split point, not the fill.
#[test]
fn random_inserts_leave_leaves_two_thirds_full() {
    let mut pages = MemPages::new(PageId(1));
    let tree = BTree::create(&mut pages).unwrap();
    let keys = shuffled(20_000, 7)
        .into_iter()
        .map(|i| i.to_be_bytes().to_vec());
    fill(&mut pages, &tree, keys, &[1; 100]);
    let stats = tree.check(&pages).unwrap();
    let fill = leaf_fill(&stats);
    assert!(fill > 0.6, "leaf fill {fill:.2}: {stats:?}");
}

#[test]
fn limits() {
    let mut pages = MemPages::new(PageId(1));
    let tree = BTree::create(&mut pages).unwrap();
    let max_key = vec![9; KEY_BYTES_MAX];
    tree.put(&mut pages, &max_key, &[1; VALUE_INLINE_MAX])
        .unwrap();
    assert_eq!(
        tree.get(&pages, &max_key).unwrap(),
        Some(vec![1; VALUE_INLINE_MAX])
    );
    let too_long = vec![9; KEY_BYTES_MAX + 1];
    assert!(matches!(
        tree.put(&mut pages, &too_long, b""),
        Err(BTreeError::KeyTooLarge { .. })
    ));
    assert_eq!(tree.get(&pages, &too_long).unwrap(), None);
    assert_eq!(tree.delete(&mut pages, &too_long).unwrap(), None);
    // Zeroed memory is not touched until written, so this is cheap.
    let huge = vec![0u8; VALUE_BYTES_MAX + 1];
    let err = tree.put(&mut pages, b"k", &huge).unwrap_err();
    assert_eq!(
        err,
        BTreeError::ValueTooLarge {
            len: VALUE_BYTES_MAX + 1,
            max: VALUE_BYTES_MAX
        }
    );
    assert_eq!(tree.check(&pages).unwrap().entries, 1);
    // The empty key is a key like any other.
    tree.put(&mut pages, b"", b"empty").unwrap();
    assert_eq!(tree.get(&pages, b"").unwrap(), Some(b"empty".to_vec()));
}

#[test]
fn cursor_bounds_and_directions() {
    let mut pages = MemPages::new(PageId(1));
    let tree = BTree::create(&mut pages).unwrap();
    let keys: Vec<Vec<u8>> = (0..2000u32)
        .map(|i| (i * 2).to_be_bytes().to_vec())
        .collect();
    fill(&mut pages, &tree, keys, b"x");
    let k = |i: u32| i.to_be_bytes().to_vec();
    let keys_of = |lower: Bound<&[u8]>, upper: Bound<&[u8]>, dir| -> Vec<u32> {
        tree.range(&pages, lower, upper, dir)
            .map(|r| u32::from_be_bytes(r.unwrap().0.try_into().unwrap()))
            .collect()
    };
    use Bound::{Excluded, Included, Unbounded};
    use Direction::{Backward, Forward};
    assert_eq!(
        keys_of(Included(&k(10)), Included(&k(16)), Forward),
        [10, 12, 14, 16]
    );
    assert_eq!(
        keys_of(Excluded(&k(10)), Excluded(&k(16)), Forward),
        [12, 14]
    );
    assert_eq!(
        keys_of(Included(&k(11)), Included(&k(17)), Backward),
        [16, 14, 12]
    );
    assert_eq!(
        keys_of(Excluded(&k(10)), Excluded(&k(16)), Backward),
        [14, 12]
    );
    assert_eq!(
        keys_of(Included(&k(3990)), Unbounded, Forward),
        [3990, 3992, 3994, 3996, 3998]
    );
    assert_eq!(keys_of(Unbounded, Excluded(&k(6)), Backward), [4, 2, 0]);
    assert_eq!(keys_of(Included(&k(8)), Included(&k(8)), Backward), [8]);
    assert!(keys_of(Included(&k(9)), Included(&k(9)), Forward).is_empty());
    assert!(keys_of(Included(&k(20)), Included(&k(10)), Forward).is_empty());
    assert!(keys_of(Included(&k(20)), Included(&k(10)), Backward).is_empty());
    let all = keys_of(Unbounded, Unbounded, Backward);
    assert_eq!(all.len(), 2000);
    assert!(all.windows(2).all(|w| w[0] == w[1] + 2));
    // An empty tree scans as empty both ways.
    let empty = BTree::create(&mut pages).unwrap();
    assert_eq!(
        empty.range(&pages, Unbounded, Unbounded, Forward).count(),
        0
    );
    assert_eq!(
        empty.range(&pages, Unbounded, Unbounded, Backward).count(),
        0
    );
}

#[test]
fn root_page_id_never_changes() {
    let mut pages = MemPages::new(PageId(1));
    let tree = BTree::create(&mut pages).unwrap();
    let root = tree.root();
    fill(
        &mut pages,
        &tree,
        (0..5000u32).map(|i| i.to_le_bytes().to_vec()),
        &[3; 30],
    );
    assert!(tree.check(&pages).unwrap().levels >= 2);
    let reopened = BTree::open(root);
    assert_eq!(
        reopened.get(&pages, &7u32.to_le_bytes()).unwrap(),
        Some(vec![3; 30])
    );
    for i in 0..5000u32 {
        reopened.delete(&mut pages, &i.to_le_bytes()).unwrap();
    }
    assert_eq!(reopened.root(), root);
    assert_eq!(tree.check(&pages).unwrap().levels, 1);
}

/// Regression: two slots pointing at the same cell pass the read-side page
/// validation (the space accounting still adds up), and deleting one of
/// them used to free the cell area under the other: a debug assertion fired,
/// and a release build would have written a page whose next insert
/// overwrote a live cell. Pages are now checked for overlapping cells before
/// any change, so the delete is a corruption error.
#[test]
fn overlapping_cells_refuse_changes() {
    let mut pages = MemPages::new(PageId(1));
    let tree = BTree::create(&mut pages).unwrap();
    tree.put(&mut pages, b"a", b"1").unwrap();
    tree.put(&mut pages, b"b", b"2").unwrap();
    let root = pages.get_mut(tree.root()).unwrap();
    let slot0: [u8; 4] = root[PAGE_HEADER_BYTES..PAGE_HEADER_BYTES + 4]
        .try_into()
        .unwrap();
    root[PAGE_HEADER_BYTES + 4..PAGE_HEADER_BYTES + 8].copy_from_slice(&slot0);
    assert_eq!(tree.get(&pages, b"a").unwrap(), Some(b"1".to_vec()));
    let err = tree.delete(&mut pages, b"a").unwrap_err();
    assert!(err.is_corruption(), "{err}");
    assert!(tree
        .put(&mut pages, b"c", b"3")
        .unwrap_err()
        .is_corruption());
    assert!(tree.check(&pages).unwrap_err().is_corruption());
}

/// Every byte position of interest in every page of a built tree, flipped
/// one at a time: the operations return errors or answers, never panic; the
/// checksum catches every flip; and `check` catches the flips that change
/// the structure (header fields and slots).
#[test]
fn corrupt_pages_are_errors_not_panics() {
    let mut pages = MemPages::new(PageId(1));
    let tree = BTree::create(&mut pages).unwrap();
    let keys: Vec<Vec<u8>> = (0..400u32).map(|i| long(100, &i.to_be_bytes())).collect();
    fill(&mut pages, &tree, keys.clone(), &[5; 40]);
    tree.put(&mut pages, &keys[3], &vec![6; 2 * OVERFLOW_CHUNK_BYTES + 5])
        .unwrap();
    let stats = tree.check(&pages).unwrap();
    assert!(stats.levels >= 2 && stats.overflow_pages == 3, "{stats:?}");
    let page_ids: Vec<PageId> = (1..=stats.pages()).map(PageId).collect();
    let mut detected = 0;
    let mut flips = 0;
    for &id in &page_ids {
        let image = *pages.get(id).unwrap();
        let count = usize::from(u16::from_le_bytes([image[16], image[17]]));
        let mut offsets: Vec<usize> = (4..PAGE_HEADER_BYTES).collect();
        offsets.extend((PAGE_HEADER_BYTES..PAGE_HEADER_BYTES + count * SLOT_BYTES).step_by(3));
        offsets.extend((PAGE_HEADER_BYTES + count * SLOT_BYTES..PAGE_SIZE).step_by(97));
        for at in offsets {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut bad = pages.clone();
                let mut sealed = image;
                seal_checksum(&mut sealed);
                let bytes = bad.get_mut(id).unwrap();
                *bytes = sealed;
                bytes[at] ^= mask;
                assert!(verify_checksum(bytes).is_err());
                flips += 1;
                let header = at < PAGE_HEADER_BYTES + count * SLOT_BYTES && !(8..16).contains(&at);
                let checked = tree.check(&bad);
                if checked.is_err() {
                    detected += 1;
                } else if header && at >= 16 {
                    panic!("page {id} byte {at} ^ {mask:#x}: check passed");
                }
                // None of these may panic, whatever they return.
                let _ = tree.get(&bad, &keys[3]);
                let _ = tree.get(&bad, &keys[200]);
                let _ = tree
                    .range(&bad, Bound::Unbounded, Bound::Unbounded, Direction::Forward)
                    .count();
                let _ = tree
                    .range(
                        &bad,
                        Bound::Unbounded,
                        Bound::Unbounded,
                        Direction::Backward,
                    )
                    .count();
                let mut copy = bad.clone();
                let _ = tree.put(&mut copy, &keys[3], b"new");
                let _ = tree.put(&mut copy, &long(100, b"zz"), &[1; 3000]);
                let mut copy = bad.clone();
                for key in keys.iter().step_by(7) {
                    if tree.delete(&mut copy, key).is_err() {
                        break;
                    }
                }
                let _ = tree.clear(&mut bad.clone());
                let _ = tree.destroy(&mut bad);
            }
        }
    }
    assert!(detected > flips / 4, "{detected} of {flips} flips detected");
}

/// Pages that log every read and every readahead hint.
struct Watching<'a> {
    pages: &'a MemPages,
    log: std::cell::RefCell<Vec<(bool, PageId)>>,
}

impl Pages for Watching<'_> {
    fn get(&self, id: PageId) -> Result<PageRef, PageError> {
        self.log.borrow_mut().push((false, id));
        self.pages.get(id)
    }
    fn prefetch(&self, ids: &[PageId]) {
        self.log
            .borrow_mut()
            .extend(ids.iter().map(|&id| (true, id)));
    }
}

#[test]
fn long_scans_read_ahead_the_leaves_they_visit_next() {
    let mut pages = MemPages::new(PageId(1));
    let tree = BTree::create(&mut pages).unwrap();
    let keys = shuffled(30_000, 7)
        .into_iter()
        .map(|i| i.to_be_bytes().to_vec());
    fill(&mut pages, &tree, keys, &[7u8; 100]);
    let stats = tree.check(&pages).unwrap();
    assert!(
        stats.levels >= 3,
        "the test wants several parents: {stats:?}"
    );
    use Bound::{Included, Unbounded};
    for dir in [Direction::Forward, Direction::Backward] {
        let w = Watching {
            pages: &pages,
            log: Default::default(),
        };
        let mut n = 0u32;
        let mut last: Option<Vec<u8>> = None;
        for entry in tree.range(&w, Unbounded, Unbounded, dir) {
            let (k, _) = entry.unwrap();
            if let Some(prev) = &last {
                assert_eq!(k > *prev, dir == Direction::Forward, "scan order");
            }
            last = Some(k);
            n += 1;
        }
        assert_eq!(n, 30_000, "{dir:?}: the scan still returns every entry");
        let log = w.log.into_inner();
        // Every page hinted is read afterwards, in the order hinted, and
        // nearly every leaf was hinted before it was read.
        let hinted: Vec<PageId> = log.iter().filter(|e| e.0).map(|e| e.1).collect();
        let mut read_after = Vec::new();
        for (i, e) in log.iter().enumerate() {
            let first_read = !log[..i].contains(&(false, e.1));
            if !e.0 && first_read && log[..i].contains(&(true, e.1)) {
                read_after.push(e.1);
            }
        }
        assert_eq!(read_after, hinted, "{dir:?}: hinted leaves read in order");
        let leaves = stats.leaf_pages as usize;
        let parents = stats.internal_pages as usize;
        assert!(
            hinted.len() + READAHEAD_AFTER + parents >= leaves,
            "{dir:?}: {} of {leaves} leaves read ahead ({parents} internal pages)",
            hinted.len()
        );
    }
    // A short range never reads ahead.
    let w = Watching {
        pages: &pages,
        log: Default::default(),
    };
    let from = 1000u32.to_be_bytes();
    let to = 1029u32.to_be_bytes();
    let got = tree
        .range(
            &w,
            Included(&from[..]),
            Included(&to[..]),
            Direction::Forward,
        )
        .count();
    assert_eq!(got, 30);
    assert!(w.log.borrow().iter().all(|e| !e.0), "no hints for 30 keys");
}

#[test]
fn lookups_from_a_finger_find_what_lookups_from_the_root_find() {
    let mut pages = MemPages::new(PageId(1));
    let tree = BTree::create(&mut pages).unwrap();
    // Even keys only, some values long enough to overflow.
    for i in shuffled(6_000, 3) {
        let len = if i % 97 == 0 {
            3 * OVERFLOW_CHUNK_BYTES
        } else {
            40
        };
        tree.put(
            &mut pages,
            &(i * 2).to_be_bytes(),
            &vec![(i % 251) as u8; len],
        )
        .unwrap();
    }
    tree.check(&pages).unwrap();
    // Ascending runs (the index scan's case), descending, random, and keys
    // that are absent: between two keys of a leaf, between leaves, and
    // past either end.
    let ascending = 0..12_100u32;
    let descending = (0..12_100u32).rev();
    let random = shuffled(12_100, 9);
    // Present keys only, each the neighbour of the last in its leaf.
    let present_up = (0..6_050u32).map(|i| i * 2);
    let present_down = (0..6_050u32).rev().map(|i| i * 2);
    let mut finger = None;
    for k in ascending
        .chain(descending)
        .chain(random)
        .chain(present_up)
        .chain(present_down)
    {
        let key = k.to_be_bytes();
        let near = tree
            .get_near(&pages, &key, &mut finger, |v| v.to_vec())
            .unwrap();
        assert_eq!(near, tree.get(&pages, &key).unwrap(), "key {k}");
        assert!(finger.is_some());
    }
}

#[test]
fn lookups_from_a_parent_finger_in_a_taller_tree_find_what_the_root_finds() {
    // ~35 entries a leaf: over a thousand leaves under a few level-1
    // nodes, so lookups start from a parent that is not the root.
    let mut pages = MemPages::new(PageId(1));
    let tree = BTree::create(&mut pages).unwrap();
    for i in shuffled(40_000, 5) {
        tree.put(&mut pages, &(i * 2).to_be_bytes(), &[(i % 251) as u8; 200])
            .unwrap();
    }
    tree.check(&pages).unwrap();
    let mut finger = None;
    // Random keys, present and absent, then runs that cross leaf and
    // parent boundaries in both directions.
    let random = shuffled(80_100, 11);
    let strided = (0..80_100u32).step_by(37);
    let back = (0..80_100u32).rev().step_by(53);
    for k in random.into_iter().chain(strided).chain(back) {
        let key = k.to_be_bytes();
        let near = tree
            .get_near(&pages, &key, &mut finger, |v| v.to_vec())
            .unwrap();
        assert_eq!(near, tree.get(&pages, &key).unwrap(), "key {k}");
    }
}

#[test]
fn lookups_from_a_finger_in_a_four_level_tree_find_what_the_root_finds() {
    // Long keys (a long shared prefix, so separators stay long) keep
    // internal nodes narrow, so 30,000 entries make a tree
    // of four levels and a lookup may start at any ancestor of the last
    // leaf: its parent, its grandparent or the root.
    let key = |k: u32| {
        let mut v = vec![b'k'; 300];
        v.extend_from_slice(&k.to_be_bytes());
        v
    };
    let mut pages = MemPages::new(PageId(1));
    let tree = BTree::create(&mut pages).unwrap();
    for i in shuffled(30_000, 3) {
        tree.put(&mut pages, &key(i * 2), &[(i % 251) as u8; 100])
            .unwrap();
    }
    tree.check(&pages).unwrap();
    let mut finger = None;
    let random = shuffled(60_100, 17);
    let strided = (0..60_100u32).step_by(29);
    let wide = (0..60_100u32).step_by(1_999);
    let back = (0..60_100u32).rev().step_by(41);
    for k in random.into_iter().chain(strided).chain(wide).chain(back) {
        let near = tree
            .get_near(&pages, &key(k), &mut finger, |v| v.to_vec())
            .unwrap();
        assert_eq!(near, tree.get(&pages, &key(k)).unwrap(), "key {k}");
    }
    let depth = finger.as_ref().map(|f| f.ancestors.len());
    assert_eq!(depth, Some(3), "the tree should have four levels");
}

#[test]
fn split_keys_cut_a_tree_into_ranges_that_cover_it_in_similar_shares() {
    let mut pages = MemPages::new(PageId(1));
    let tree = BTree::create(&mut pages).unwrap();
    // One leaf, then a few leaves: too small to cut.
    tree.put(&mut pages, b"a", b"1").unwrap();
    assert!(tree
        .split_keys(&pages, Bound::Unbounded, Bound::Unbounded, 2)
        .unwrap()
        .is_empty());
    fill(
        &mut pages,
        &tree,
        (0..200u32).map(|i| i.to_be_bytes().to_vec()),
        &[7; 150],
    );
    assert!(tree
        .split_keys(&pages, Bound::Unbounded, Bound::Unbounded, 2)
        .unwrap()
        .is_empty());
    // Thousands of leaves, three levels, inserted out of order.
    for i in shuffled(60_000, 3) {
        tree.put(&mut pages, &(i * 3).to_be_bytes(), &[(i % 251) as u8; 200])
            .unwrap();
    }
    tree.check(&pages).unwrap();
    // The whole tree, and ranges of it: a tenth in the middle, from the
    // start, to the end, with bounds on keys present and absent.
    let key = |i: u32| i.to_be_bytes().to_vec();
    let ranges = [
        (Bound::Unbounded, Bound::Unbounded),
        (Bound::Included(key(80_000)), Bound::Excluded(key(98_000))),
        (Bound::Unbounded, Bound::Included(key(30_001))),
        (Bound::Excluded(key(150_000)), Bound::Unbounded),
    ];
    for (lo, hi) in ranges {
        let all = scan(&tree, &pages, &lo, &hi, Direction::Forward);
        for parts in [2, 3, 5] {
            check_split(&tree, &pages, &lo, &hi, &all, parts);
        }
    }
    // A range too narrow to cut.
    let narrow = tree
        .split_keys(
            &pages,
            Bound::Included(&key(900)),
            Bound::Included(&key(1_500)),
            2,
        )
        .unwrap();
    assert!(narrow.is_empty(), "{narrow:?}");
}

fn check_split(
    tree: &BTree,
    pages: &MemPages,
    lo: &Bound<Vec<u8>>,
    hi: &Bound<Vec<u8>>,
    all: &[(Vec<u8>, Vec<u8>)],
    parts: usize,
) {
    let cuts = tree
        .split_keys(pages, as_ref(lo), as_ref(hi), parts)
        .unwrap();
    assert_eq!(cuts.len(), parts - 1, "{parts} parts");
    assert!(
        cuts.windows(2).all(|w| w[0] < w[1]),
        "{parts} parts: cuts out of order"
    );
    // Part i is [cuts[i-1], cuts[i]) of the range: together exactly the
    // range, in order.
    let mut lows = vec![lo.clone()];
    lows.extend(cuts.iter().cloned().map(Bound::Included));
    let mut seen = Vec::new();
    for (i, part_lo) in lows.iter().enumerate() {
        let part_hi = cuts.get(i).cloned().map_or(hi.clone(), Bound::Excluded);
        let part = scan(tree, pages, part_lo, &part_hi, Direction::Forward);
        // Subtrees are weighed alike, and leaves hold 50–100% of a page:
        // no part gets much less than half its fair share.
        let fair = all.len() / parts;
        assert!(
            part.len() > fair / 2 && part.len() < fair * 2,
            "{parts} parts: part {i} has {} of {} entries",
            part.len(),
            all.len()
        );
        seen.extend(part);
    }
    assert_eq!(seen, all, "{parts} parts");
}
