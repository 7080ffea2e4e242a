//! Slotted pages: the layout that B+tree leaves, B+tree internal nodes and
//! overflow pages share, plus the header fields and checksum every page has.
//!
//! # Why slotted
//!
//! Keys and values have variable length. A slotted page keeps an array of
//! fixed-size slots (cell offset and length) growing up from the header and
//! the variable-length cells growing down from the end of the page. Keeping
//! the sort order means moving 4-byte slots, never the cells, and a deleted
//! cell leaves a hole that is reclaimed by compaction only when an insert
//! needs the space. Cells are opaque bytes here: the B+tree gives them
//! meaning (`crate::btree`).
//!
//! # Corrupt bytes
//!
//! Page bytes come from storage and may be corrupt. [`SlottedPage::parse`]
//! validates the header, every slot and the space accounting before any
//! cell is read, so a corrupt page becomes [`PageError::Corrupted`], never an
//! out-of-bounds index; after a successful parse the accessors cannot panic.
//! The checksum is a separate step ([`verify_checksum`]): the engine checks it
//! once, when a page arrives from storage, and seals it ([`seal_checksum`])
//! when a page leaves, not on every access. Mutations assert their
//! preconditions (an index in range, room for the cell); callers check
//! [`SlottedPage::fits`] first, so a failed assert is a bug, not bad data.
//!
//! The byte layout is drawn in `docs/page-format.md`. All integers are
//! little-endian: the page format is compute's alone (storage copies bytes),
//! and little-endian is the native order of every machine we run on.

use sextant_storage::types::Lsn;

use crate::pages::{PageError, PageId, PageImage, PAGE_SIZE};

/// Bytes of the header every slotted page starts with; the slot array
/// follows it.
pub const PAGE_HEADER_BYTES: usize = 40;
/// Bytes of the header part common to every page type, the superblock
/// included: checksum, type, flags, LSN.
pub const COMMON_HEADER_BYTES: usize = 16;
/// Bytes of one slot: the cell's offset and length, `u16` each.
pub const SLOT_BYTES: usize = 4;
/// Bytes available to slots and cells together.
pub const PAGE_CELL_SPACE: usize = PAGE_SIZE - PAGE_HEADER_BYTES;
/// The largest cell a slotted page can hold: all of its space but one slot.
pub const CELL_BYTES_MAX: usize = PAGE_CELL_SPACE - SLOT_BYTES;

// Offsets, lengths and the cell-area start are u16 on the page.
const _: () = assert!(PAGE_SIZE <= u16::MAX as usize);
const _: () = assert!(COMMON_HEADER_BYTES <= PAGE_HEADER_BYTES);

const OFF_CHECKSUM: usize = 0;
const OFF_TYPE: usize = 4;
const OFF_FLAGS: usize = 5;
const OFF_COMMON_RESERVED: usize = 6;
const OFF_LSN: usize = 8;
const OFF_SLOT_COUNT: usize = 16;
const OFF_UPPER: usize = 18;
const OFF_FRAG: usize = 20;
const OFF_LEVEL: usize = 22;
const OFF_LEFT: usize = 24;
const OFF_RIGHT: usize = 32;
const _: () = assert!(OFF_RIGHT + 8 == PAGE_HEADER_BYTES);

/// Flag bits defined so far: none. A set bit that no code defines is
/// corruption, so an old binary never misreads a page a newer one wrote.
pub const PAGE_FLAGS_KNOWN: u8 = 0;

/// What a page holds: the byte at offset 4 of every page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum PageType {
    /// A page on the free list, or one never written: an all-zero page
    /// reads as this type.
    Free = 0,
    /// Page 0: the volume's root of everything (its layout is
    /// `crate::superblock`'s business; only the common header is shared).
    Superblock = 1,
    /// A B+tree leaf: cells are (key, value) entries.
    BTreeLeaf = 2,
    /// A B+tree internal node: cells are (separator key, child) entries.
    BTreeInternal = 3,
    /// One link of a chain holding a value too large for a leaf.
    Overflow = 4,
}

impl PageType {
    /// The type with code `code`, if any.
    pub fn from_code(code: u8) -> Option<PageType> {
        Some(match code {
            0 => PageType::Free,
            1 => PageType::Superblock,
            2 => PageType::BTreeLeaf,
            3 => PageType::BTreeInternal,
            4 => PageType::Overflow,
            _ => return None,
        })
    }

    /// The code stored on the page.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Whether pages of this type use the slotted layout.
    pub fn is_slotted(self) -> bool {
        matches!(
            self,
            PageType::BTreeLeaf | PageType::BTreeInternal | PageType::Overflow
        )
    }
}

fn read_u16(bytes: &PageImage, at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn read_u32(bytes: &PageImage, at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn read_u64(bytes: &PageImage, at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

fn write_u16(bytes: &mut PageImage, at: usize, v: u16) {
    bytes[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

fn write_u64(bytes: &mut PageImage, at: usize, v: u64) {
    bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// A byte count that fits a page as a `u16`.
fn to_u16(n: usize) -> u16 {
    u16::try_from(n).expect("page offsets fit u16 (PAGE_SIZE <= u16::MAX)")
}

fn corrupted(page: PageId, detail: impl Into<String>) -> PageError {
    PageError::Corrupted {
        page,
        detail: detail.into(),
    }
}

/// The type of any page, from its common header.
pub fn page_type(id: PageId, bytes: &PageImage) -> Result<PageType, PageError> {
    let code = bytes[OFF_TYPE];
    PageType::from_code(code).ok_or_else(|| corrupted(id, format!("unknown page type {code}")))
}

/// Sets the type byte of any page. Slotted pages get theirs from
/// [`SlottedPageMut::init`]; this is for the others (superblock, free).
pub fn set_page_type(bytes: &mut PageImage, ty: PageType) {
    bytes[OFF_TYPE] = ty.code();
}

/// The LSN of the commit that last changed this page (any page type).
pub fn page_lsn(bytes: &PageImage) -> Lsn {
    Lsn(read_u64(bytes, OFF_LSN))
}

/// Records the LSN of the commit changing this page; the engine calls this
/// when it builds the commit's redo.
pub fn set_page_lsn(bytes: &mut PageImage, lsn: Lsn) {
    write_u64(bytes, OFF_LSN, lsn.0);
}

/// The page checksum did not match its bytes.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
#[error("page checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
pub struct ChecksumMismatch {
    /// The checksum in the page header.
    pub stored: u32,
    /// The checksum of the page's bytes.
    pub computed: u32,
}

fn compute_checksum(bytes: &PageImage) -> u32 {
    crc32c::crc32c(&bytes[OFF_CHECKSUM + 4..])
}

/// Stores the CRC32C of bytes `[4, PAGE_SIZE)` in bytes `[0, 4)`. Call it
/// last, after every other change (the LSN included), before the page is
/// written out.
pub fn seal_checksum(bytes: &mut PageImage) {
    let crc = compute_checksum(bytes);
    bytes[OFF_CHECKSUM..OFF_CHECKSUM + 4].copy_from_slice(&crc.to_le_bytes());
    debug_assert!(verify_checksum(bytes).is_ok());
}

/// Checks the checksum stored by [`seal_checksum`]. An all-zero page passes:
/// it is a page never written (storage returns zeros for those), as in
/// PostgreSQL's `PageIsVerified`; its type reads as [`PageType::Free`], which
/// no B+tree accepts, so a page zeroed by mistake is still caught on use.
pub fn verify_checksum(bytes: &PageImage) -> Result<(), ChecksumMismatch> {
    let stored = read_u32(bytes, OFF_CHECKSUM);
    let computed = compute_checksum(bytes);
    if stored == computed || (stored == 0 && bytes.iter().all(|&b| b == 0)) {
        Ok(())
    } else {
        Err(ChecksumMismatch { stored, computed })
    }
}

fn link(raw: u64) -> Option<PageId> {
    // Page 0 is the superblock, never a slotted page, so 0 can mean "none".
    (raw != 0).then_some(PageId(raw))
}

fn link_raw(id: Option<PageId>) -> u64 {
    match id {
        Some(id) => {
            assert!(
                id.0 != 0,
                "page 0 is the superblock and cannot be linked to"
            );
            id.0
        }
        None => 0,
    }
}

fn slot_at(index: usize) -> usize {
    PAGE_HEADER_BYTES + index * SLOT_BYTES
}

/// Checks everything the accessors rely on: a slotted type, known flags, a
/// slot array and cell area inside the page and not overlapping each other,
/// every slot inside the cell area (an empty cell at the page end), and
/// exact space accounting.
fn validate(id: PageId, bytes: &PageImage) -> Result<(), PageError> {
    let ty = page_type(id, bytes)?;
    if !ty.is_slotted() {
        return Err(corrupted(
            id,
            format!("a {ty:?} page where a slotted page was expected"),
        ));
    }
    let flags = bytes[OFF_FLAGS];
    if flags & !PAGE_FLAGS_KNOWN != 0 {
        return Err(corrupted(id, format!("unknown page flags {flags:#04x}")));
    }
    if read_u16(bytes, OFF_COMMON_RESERVED) != 0 {
        return Err(corrupted(id, "reserved header bytes are not zero"));
    }
    let count = usize::from(read_u16(bytes, OFF_SLOT_COUNT));
    let upper = usize::from(read_u16(bytes, OFF_UPPER));
    let frag = usize::from(read_u16(bytes, OFF_FRAG));
    let lower = slot_at(count);
    if lower > upper || upper > PAGE_SIZE {
        return Err(corrupted(
            id,
            format!("{count} slots end at {lower}, past the cell area at {upper}"),
        ));
    }
    let level = read_u16(bytes, OFF_LEVEL);
    let level_ok = match ty {
        PageType::BTreeInternal => level >= 1,
        _ => level == 0,
    };
    if !level_ok {
        return Err(corrupted(id, format!("a {ty:?} page at level {level}")));
    }
    let mut cell_bytes = 0usize;
    for i in 0..count {
        let off = usize::from(read_u16(bytes, slot_at(i)));
        let len = usize::from(read_u16(bytes, slot_at(i) + 2));
        if off < upper || off + len > PAGE_SIZE || (len == 0 && off != PAGE_SIZE) {
            return Err(corrupted(
                id,
                format!("slot {i} ({off}+{len}) is outside the cell area [{upper}, {PAGE_SIZE})"),
            ));
        }
        cell_bytes += len;
    }
    // Every byte of the cell area is a live cell or a counted hole. This is
    // what makes compaction safe: the live cells always fit above the slots.
    if upper + cell_bytes + frag != PAGE_SIZE {
        return Err(corrupted(
            id,
            format!(
                "space accounting: cell area at {upper}, {cell_bytes} cell bytes and \
                 {frag} hole bytes do not add up to {PAGE_SIZE}"
            ),
        ));
    }
    Ok(())
}

/// [`validate`], and that no two cells overlap: what mutations rely on on top
/// of what reads rely on. With it, the holes add up to exactly the counted
/// fragmented bytes, so freeing the lowest cell may move the cell area's
/// start past it without landing inside another cell.
fn validate_for_change(id: PageId, bytes: &PageImage) -> Result<(), PageError> {
    validate(id, bytes)?;
    SlottedPage { id, bytes }.check_layout()
}

/// A read-only view of a validated slotted page.
#[derive(Clone, Copy)]
pub struct SlottedPage<'a> {
    id: PageId,
    bytes: &'a PageImage,
}

impl std::fmt::Debug for SlottedPage<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlottedPage")
            .field("id", &self.id)
            .field("type", &self.page_type())
            .field("level", &self.level())
            .field("slots", &self.slot_count())
            .field("free_bytes", &self.free_bytes())
            .finish()
    }
}

impl<'a> SlottedPage<'a> {
    /// Validates page `id`'s bytes as a slotted page (header, slots, space
    /// accounting; not the checksum) and views them.
    pub fn parse(id: PageId, bytes: &'a PageImage) -> Result<SlottedPage<'a>, PageError> {
        validate(id, bytes)?;
        Ok(SlottedPage { id, bytes })
    }

    /// Views bytes that [`SlottedPage::parse`] accepted before. The bytes of
    /// a `PageRef` never change, so a cursor parses a page once and uses this
    /// for each later step instead of re-validating every slot.
    pub(crate) fn parsed_before(id: PageId, bytes: &'a PageImage) -> SlottedPage<'a> {
        debug_assert!(validate(id, bytes).is_ok(), "page {id} was not validated");
        SlottedPage { id, bytes }
    }

    /// The page's id.
    pub fn id(&self) -> PageId {
        self.id
    }

    /// The page's bytes.
    pub fn bytes(&self) -> &'a PageImage {
        self.bytes
    }

    /// The page type (a slotted one).
    pub fn page_type(&self) -> PageType {
        PageType::from_code(self.bytes[OFF_TYPE]).expect("validated by parse")
    }

    /// The flag bits.
    pub fn flags(&self) -> u8 {
        self.bytes[OFF_FLAGS]
    }

    /// The LSN of the commit that last changed the page.
    pub fn lsn(&self) -> Lsn {
        page_lsn(self.bytes)
    }

    /// Height above the leaves: 0 for leaves and overflow pages.
    pub fn level(&self) -> u16 {
        read_u16(self.bytes, OFF_LEVEL)
    }

    /// The left sibling (leaves only).
    pub fn left(&self) -> Option<PageId> {
        link(read_u64(self.bytes, OFF_LEFT))
    }

    /// The right sibling (leaves), or the next page of an overflow chain.
    pub fn right(&self) -> Option<PageId> {
        link(read_u64(self.bytes, OFF_RIGHT))
    }

    /// Number of cells.
    pub fn slot_count(&self) -> usize {
        usize::from(read_u16(self.bytes, OFF_SLOT_COUNT))
    }

    fn upper(&self) -> usize {
        usize::from(read_u16(self.bytes, OFF_UPPER))
    }

    fn frag(&self) -> usize {
        usize::from(read_u16(self.bytes, OFF_FRAG))
    }

    fn slot(&self, index: usize) -> (usize, usize) {
        let at = slot_at(index);
        (
            usize::from(read_u16(self.bytes, at)),
            usize::from(read_u16(self.bytes, at + 2)),
        )
    }

    /// Whether cell `index` is the one written last: it sits at the bottom
    /// of the cell area, where the next cell goes (until a compaction
    /// reorders the cells). Panics if `index >= slot_count()`.
    pub fn is_newest_cell(&self, index: usize) -> bool {
        let count = self.slot_count();
        assert!(index < count, "cell {index} of a page with {count} cells");
        let (off, len) = self.slot(index);
        len > 0 && off == self.upper()
    }

    /// Cell `index`; panics if `index >= slot_count()`.
    pub fn cell(&self, index: usize) -> &'a [u8] {
        let count = self.slot_count();
        assert!(index < count, "cell {index} of a page with {count} cells");
        let (off, len) = self.slot(index);
        &self.bytes[off..off + len]
    }

    /// All cells in slot order.
    pub fn cells(&self) -> impl DoubleEndedIterator<Item = &'a [u8]> + ExactSizeIterator + 'a {
        let page = *self;
        (0..self.slot_count()).map(move |i| page.cell(i))
    }

    /// Free bytes between the slot array and the cell area, usable without
    /// compaction.
    pub fn contiguous_free_bytes(&self) -> usize {
        self.upper() - slot_at(self.slot_count())
    }

    /// Free bytes, holes included: what an insert may use after compaction.
    pub fn free_bytes(&self) -> usize {
        self.contiguous_free_bytes() + self.frag()
    }

    /// Bytes taken by slots and live cells.
    pub fn used_bytes(&self) -> usize {
        PAGE_CELL_SPACE - self.free_bytes()
    }

    /// Whether a new cell of `len` bytes (and its slot) fits.
    pub fn fits(&self, len: usize) -> bool {
        len + SLOT_BYTES <= self.free_bytes()
    }

    /// Whether cell `index` can be replaced by one of `len` bytes.
    pub fn fits_replacement(&self, index: usize, len: usize) -> bool {
        let (_, old) = self.slot(index);
        len <= old + self.free_bytes()
    }

    /// Checks what [`SlottedPage::parse`] leaves out because it costs a sort:
    /// that no two cells overlap. Reads do not need it to be safe;
    /// [`SlottedPageMut::parse`] does it, and so does the tree's `check()`.
    pub fn check_layout(&self) -> Result<(), PageError> {
        // One bit per byte of the page: marking each cell's bytes finds any
        // byte claimed twice in one pass, without sorting (this runs on every
        // change to a page, so for every row a commit writes).
        const WORDS: usize = PAGE_SIZE / 64;
        let mut taken = [0u64; WORDS];
        for i in 0..self.slot_count() {
            let (off, len) = self.slot(i);
            // `validate` keeps cells inside the page.
            debug_assert!(off + len <= PAGE_SIZE);
            let mut at = off;
            let end = off + len;
            while at < end {
                let (word, bit) = (at / 64, at % 64);
                let n = (64 - bit).min(end - at);
                let mask = if n == 64 {
                    u64::MAX
                } else {
                    ((1u64 << n) - 1) << bit
                };
                if taken[word] & mask != 0 {
                    return Err(corrupted(
                        self.id,
                        format!("cell {i} at {off}+{len} overlaps another cell"),
                    ));
                }
                taken[word] |= mask;
                at += n;
            }
        }
        Ok(())
    }
}

/// A mutable view of a validated (or freshly initialised) slotted page.
pub struct SlottedPageMut<'a> {
    id: PageId,
    bytes: &'a mut PageImage,
}

impl<'a> SlottedPageMut<'a> {
    /// Formats `bytes` as an empty slotted page of type `ty`; the LSN and
    /// checksum are zeroed, the old cell bytes are left as they are.
    pub fn init(
        id: PageId,
        bytes: &'a mut PageImage,
        ty: PageType,
        level: u16,
    ) -> SlottedPageMut<'a> {
        assert!(ty.is_slotted(), "init a {ty:?} page as slotted");
        assert!(
            (ty == PageType::BTreeInternal) == (level >= 1),
            "a {ty:?} page cannot be at level {level}"
        );
        bytes[..PAGE_HEADER_BYTES].fill(0);
        bytes[OFF_TYPE] = ty.code();
        write_u16(bytes, OFF_UPPER, to_u16(PAGE_SIZE));
        write_u16(bytes, OFF_LEVEL, level);
        let page = SlottedPageMut { id, bytes };
        debug_assert!(validate_for_change(id, page.bytes).is_ok());
        page
    }

    /// Validates page `id`'s bytes as in [`SlottedPage::parse`], and that no
    /// cells overlap, and views them for change.
    pub fn parse(id: PageId, bytes: &'a mut PageImage) -> Result<SlottedPageMut<'a>, PageError> {
        validate_for_change(id, bytes)?;
        Ok(SlottedPageMut { id, bytes })
    }

    /// What [`SlottedPageMut::parse`] checks, without a view.
    pub(crate) fn check(id: PageId, bytes: &PageImage) -> Result<(), PageError> {
        validate_for_change(id, bytes)
    }

    /// Views bytes that [`SlottedPageMut::parse`] accepted before and that
    /// only a `SlottedPageMut` changed since (its operations keep the layout
    /// valid), skipping the checks: an MTR that changes one leaf for each of
    /// many rows would otherwise re-check the whole page every time.
    pub(crate) fn checked_before(id: PageId, bytes: &'a mut PageImage) -> SlottedPageMut<'a> {
        debug_assert!(
            validate_for_change(id, bytes).is_ok(),
            "page {id} was not checked"
        );
        SlottedPageMut { id, bytes }
    }

    /// A read-only view.
    pub fn as_page(&self) -> SlottedPage<'_> {
        SlottedPage {
            id: self.id,
            bytes: self.bytes,
        }
    }

    /// Sets the flag bits; only defined flags may be set.
    pub fn set_flags(&mut self, flags: u8) {
        assert!(
            flags & !PAGE_FLAGS_KNOWN == 0,
            "undefined page flags {flags:#04x}"
        );
        self.bytes[OFF_FLAGS] = flags;
    }

    /// Sets the page LSN.
    pub fn set_lsn(&mut self, lsn: Lsn) {
        set_page_lsn(self.bytes, lsn);
    }

    /// Sets the level (internal nodes only: leaves stay at 0).
    pub fn set_level(&mut self, level: u16) {
        let ty = self.as_page().page_type();
        assert!(
            (ty == PageType::BTreeInternal) == (level >= 1),
            "a {ty:?} page cannot be at level {level}"
        );
        write_u16(self.bytes, OFF_LEVEL, level);
    }

    /// Sets the left sibling.
    pub fn set_left(&mut self, left: Option<PageId>) {
        write_u64(self.bytes, OFF_LEFT, link_raw(left));
    }

    /// Sets the right sibling, or the next overflow page.
    pub fn set_right(&mut self, right: Option<PageId>) {
        write_u64(self.bytes, OFF_RIGHT, link_raw(right));
    }

    /// Points slot `index` at `[off, off + len)`; an empty cell always sits
    /// at the page end, outside the cell area's bookkeeping.
    fn set_slot(&mut self, index: usize, off: usize, len: usize) {
        let off = if len == 0 { PAGE_SIZE } else { off };
        let at = slot_at(index);
        write_u16(self.bytes, at, to_u16(off));
        write_u16(self.bytes, at + 2, to_u16(len));
    }

    fn set_count(&mut self, count: usize) {
        write_u16(self.bytes, OFF_SLOT_COUNT, to_u16(count));
    }

    fn set_upper(&mut self, upper: usize) {
        write_u16(self.bytes, OFF_UPPER, to_u16(upper));
    }

    fn set_frag(&mut self, frag: usize) {
        write_u16(self.bytes, OFF_FRAG, to_u16(frag));
    }

    /// Marks cell bytes `[off, off + len)` free.
    fn release(&mut self, off: usize, len: usize) {
        let page = self.as_page();
        let (upper, frag) = (page.upper(), page.frag());
        if off == upper {
            self.set_upper(upper + len);
        } else {
            self.set_frag(frag + len);
        }
    }

    /// Takes `len` bytes from the bottom of the cell area, compacting first
    /// if the contiguous free space is short; returns their offset.
    fn reserve(&mut self, len: usize, extra_slot: bool) -> usize {
        let need = len + if extra_slot { SLOT_BYTES } else { 0 };
        if self.as_page().contiguous_free_bytes() < need {
            self.compact();
        }
        let page = self.as_page();
        assert!(
            page.contiguous_free_bytes() >= need,
            "{need} bytes do not fit after compaction"
        );
        if len == 0 {
            return PAGE_SIZE;
        }
        let off = page.upper() - len;
        self.set_upper(off);
        off
    }

    /// Inserts `cell` as cell `index`, shifting later cells up by one.
    /// Panics unless `index <= slot_count()` and the cell [`fits`](SlottedPage::fits).
    pub fn insert(&mut self, index: usize, cell: &[u8]) {
        let count = self.as_page().slot_count();
        assert!(
            index <= count,
            "insert at {index} into a page with {count} cells"
        );
        assert!(
            self.as_page().fits(cell.len()),
            "cell of {} bytes does not fit in page {} ({} bytes free)",
            cell.len(),
            self.id,
            self.as_page().free_bytes()
        );
        let off = self.reserve(cell.len(), true);
        self.bytes[off..off + cell.len()].copy_from_slice(cell);
        self.bytes
            .copy_within(slot_at(index)..slot_at(count), slot_at(index + 1));
        self.set_slot(index, off, cell.len());
        self.set_count(count + 1);
        debug_assert!(validate_for_change(self.id, self.bytes).is_ok());
    }

    /// Appends `cell` after the last cell.
    pub fn push(&mut self, cell: &[u8]) {
        let count = self.as_page().slot_count();
        self.insert(count, cell);
    }

    /// Removes cell `index`, shifting later cells down by one.
    pub fn remove(&mut self, index: usize) {
        let count = self.as_page().slot_count();
        assert!(index < count, "remove cell {index} of {count}");
        let (off, len) = self.as_page().slot(index);
        if len > 0 {
            self.release(off, len);
        }
        self.bytes
            .copy_within(slot_at(index + 1)..slot_at(count), slot_at(index));
        self.set_count(count - 1);
        debug_assert!(validate_for_change(self.id, self.bytes).is_ok());
    }

    /// Replaces cell `index` with `cell`. Panics unless the replacement
    /// [`fits`](SlottedPage::fits_replacement).
    pub fn replace(&mut self, index: usize, cell: &[u8]) {
        let count = self.as_page().slot_count();
        assert!(index < count, "replace cell {index} of {count}");
        assert!(
            self.as_page().fits_replacement(index, cell.len()),
            "replacement of {} bytes does not fit in page {}",
            cell.len(),
            self.id
        );
        let (off, len) = self.as_page().slot(index);
        if cell.len() <= len {
            // In place; the tail of the old cell becomes a hole.
            self.bytes[off..off + cell.len()].copy_from_slice(cell);
            let frag = self.as_page().frag();
            self.set_frag(frag + (len - cell.len()));
            self.set_slot(index, off, cell.len());
        } else {
            if len > 0 {
                self.release(off, len);
            }
            // Empty for now, so a compaction skips the old bytes.
            self.set_slot(index, PAGE_SIZE, 0);
            let off = self.reserve(cell.len(), false);
            self.bytes[off..off + cell.len()].copy_from_slice(cell);
            self.set_slot(index, off, cell.len());
        }
        debug_assert!(validate_for_change(self.id, self.bytes).is_ok());
    }

    /// Removes every cell; the header's other fields stay.
    pub fn clear_cells(&mut self) {
        self.set_count(0);
        self.set_upper(PAGE_SIZE);
        self.set_frag(0);
    }

    /// Moves the cells together at the end of the page so that all free
    /// space is contiguous.
    pub fn compact(&mut self) {
        let scratch: PageImage = *self.bytes;
        let before = SlottedPage {
            id: self.id,
            bytes: &scratch,
        };
        let mut upper = PAGE_SIZE;
        for i in 0..before.slot_count() {
            let cell = before.cell(i);
            if cell.is_empty() {
                continue;
            }
            upper -= cell.len();
            self.bytes[upper..upper + cell.len()].copy_from_slice(cell);
            self.set_slot(i, upper, cell.len());
        }
        self.set_upper(upper);
        self.set_frag(0);
        debug_assert!(validate_for_change(self.id, self.bytes).is_ok());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::zeroed_page;

    fn leaf(page: &mut PageImage) -> SlottedPageMut<'_> {
        SlottedPageMut::init(PageId(7), page, PageType::BTreeLeaf, 0)
    }

    fn cells(page: &PageImage) -> Vec<Vec<u8>> {
        SlottedPage::parse(PageId(7), page)
            .unwrap()
            .cells()
            .map(<[u8]>::to_vec)
            .collect()
    }

    #[test]
    fn zero_page_is_free_and_not_slotted() {
        let page = zeroed_page();
        assert_eq!(page_type(PageId(3), &page).unwrap(), PageType::Free);
        assert!(matches!(
            SlottedPage::parse(PageId(3), &page),
            Err(PageError::Corrupted { .. })
        ));
        assert!(verify_checksum(&page).is_ok());
    }

    #[test]
    fn insert_remove_replace_keep_order() {
        let mut page = zeroed_page();
        let mut p = leaf(&mut page);
        p.push(b"bbb");
        p.insert(0, b"a");
        p.push(b"cccc");
        p.insert(2, b"");
        assert_eq!(cells(&page), [&b"a"[..], b"bbb", b"", b"cccc"]);
        let mut p = SlottedPageMut::parse(PageId(7), &mut page).unwrap();
        p.remove(1);
        p.replace(0, b"AAAAAAAA");
        p.replace(2, b"cc");
        assert_eq!(cells(&page), [&b"AAAAAAAA"[..], b"", b"cc"]);
        let p = SlottedPage::parse(PageId(7), &page).unwrap();
        p.check_layout().unwrap();
        assert_eq!(p.used_bytes(), 3 * SLOT_BYTES + 10);
    }

    /// An empty cell used to take the offset at the bottom of the cell area;
    /// freeing the cell below it then moved the area's start past it and
    /// the page failed validation. Empty cells now sit at the page end.
    #[test]
    fn empty_cells_do_not_pin_the_cell_area() {
        let mut page = zeroed_page();
        let mut p = leaf(&mut page);
        p.push(b"xxxxxxxxxx");
        p.push(b"");
        p.remove(0);
        p.push(b"yy");
        p.replace(1, b"");
        p.replace(0, b"");
        p.replace(0, b"zzz");
        p.compact();
        assert_eq!(cells(&page), [&b"zzz"[..], b""]);
        let v = SlottedPage::parse(PageId(7), &page).unwrap();
        assert_eq!(v.used_bytes(), 2 * SLOT_BYTES + 3);
        v.check_layout().unwrap();
    }

    #[test]
    fn fill_fragment_and_compact() {
        let mut page = zeroed_page();
        let mut p = leaf(&mut page);
        let cell = [9u8; 100];
        while p.as_page().fits(cell.len()) {
            p.push(&cell);
        }
        let full = p.as_page().slot_count();
        assert_eq!(full, PAGE_CELL_SPACE / (100 + SLOT_BYTES));
        // Free every other cell: lots of holes, little contiguous space.
        for i in (0..full).rev().step_by(2) {
            p.remove(i);
        }
        let free = p.as_page().free_bytes();
        assert!(p.as_page().contiguous_free_bytes() < free / 2);
        // A big cell needs compaction to fit.
        let big = vec![7u8; free - SLOT_BYTES];
        assert!(p.as_page().fits(big.len()));
        p.insert(1, &big);
        assert_eq!(p.as_page().free_bytes(), 0);
        let got = cells(&page);
        assert_eq!(got[1], big);
        assert!(got
            .iter()
            .enumerate()
            .all(|(i, c)| i == 1 || c[..] == cell[..]));
        SlottedPage::parse(PageId(7), &page)
            .unwrap()
            .check_layout()
            .unwrap();
    }

    #[test]
    fn growing_replace_compacts() {
        let mut page = zeroed_page();
        let mut p = leaf(&mut page);
        for i in 0..70u8 {
            p.push(&[i; 100]);
        }
        for i in (1..70).rev().step_by(2) {
            p.remove(i);
        }
        let free = p.as_page().free_bytes();
        p.replace(0, &vec![1u8; 100 + free]);
        assert_eq!(p.as_page().free_bytes(), 0);
        let got = cells(&page);
        assert_eq!(got[0], vec![1u8; 100 + free]);
        assert_eq!(got[1], vec![2u8; 100]);
    }

    #[test]
    fn header_fields_round_trip() {
        let mut page = zeroed_page();
        let mut p = SlottedPageMut::init(PageId(9), &mut page, PageType::BTreeInternal, 3);
        p.set_left(Some(PageId(4)));
        p.set_right(Some(PageId(u64::MAX)));
        p.set_lsn(Lsn(77));
        p.set_level(5);
        let v = SlottedPage::parse(PageId(9), &page).unwrap();
        assert_eq!(v.page_type(), PageType::BTreeInternal);
        assert_eq!(
            (v.level(), v.left(), v.right()),
            (5, Some(PageId(4)), Some(PageId(u64::MAX)))
        );
        assert_eq!(v.lsn(), Lsn(77));
        assert_eq!(page_lsn(&page), Lsn(77));
        assert_eq!(v.flags(), 0);
    }

    #[test]
    fn checksum_detects_any_flipped_bit() {
        let mut page = zeroed_page();
        let mut p = leaf(&mut page);
        p.push(b"hello");
        set_page_lsn(&mut page, Lsn(5));
        seal_checksum(&mut page);
        verify_checksum(&page).unwrap();
        for at in [0, 3, 4, 8, 20, 100, PAGE_SIZE - 1] {
            let mut bad = *page;
            bad[at] ^= 0x10;
            assert!(verify_checksum(&bad).is_err(), "flip at {at} not detected");
        }
        // Changing the page without resealing is caught too.
        set_page_lsn(&mut page, Lsn(6));
        let err = verify_checksum(&page).unwrap_err();
        assert_ne!(err.stored, err.computed);
    }

    #[test]
    fn parse_rejects_bad_headers() {
        let mut good = zeroed_page();
        let mut p = leaf(&mut good);
        p.push(b"one");
        p.push(b"two");
        type Corruption = (&'static str, fn(&mut PageImage));
        let cases: [Corruption; 7] = [
            ("type", |b| b[OFF_TYPE] = 99),
            ("flags", |b| b[OFF_FLAGS] = 0x80),
            ("slot count", |b| write_u16(b, OFF_SLOT_COUNT, 3000)),
            ("upper", |b| write_u16(b, OFF_UPPER, 9000)),
            ("frag", |b| write_u16(b, OFF_FRAG, 1)),
            ("slot offset", |b| write_u16(b, slot_at(0), 20)),
            ("leaf level", |b| write_u16(b, OFF_LEVEL, 1)),
        ];
        for (what, corrupt) in cases {
            let mut bad = *good;
            corrupt(&mut bad);
            let err = SlottedPage::parse(PageId(7), &bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    PageError::Corrupted {
                        page: PageId(7),
                        ..
                    }
                ),
                "{what}: {err}"
            );
            assert!(
                SlottedPageMut::parse(PageId(7), &mut bad).is_err(),
                "{what}"
            );
        }
    }

    #[test]
    fn check_layout_finds_overlap() {
        let mut page = zeroed_page();
        let mut p = leaf(&mut page);
        p.push(b"aaaa");
        p.push(b"bbbb");
        // Point slot 1 into cell 0 and keep the accounting consistent.
        let (off0, _) = p.as_page().slot(0);
        let (off1, _) = p.as_page().slot(1);
        p.set_slot(1, off0 + 2, 2);
        p.set_frag(2);
        assert!(off1 < off0);
        // Reads are safe on such a page; changes are refused.
        let v = SlottedPage::parse(PageId(7), &page).unwrap();
        assert!(v.check_layout().is_err());
        assert!(SlottedPageMut::parse(PageId(7), &mut page).is_err());
    }
}
