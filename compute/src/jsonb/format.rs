//! The binary layout (see the module documentation of [`super`]): reading a
//! value in place, validating a whole document, and encoding a tree of
//! [`Node`]s.

use std::borrow::Cow;
use std::cmp::Ordering;

use super::{Jsonb, JsonbError, Kind, MAX_DEPTH};
use crate::datum::{NUMERIC_MAX_INT_DIGITS, NUMERIC_MAX_SCALE};

/// The leading byte of a document in format version 1.
pub const FORMAT_V1: u8 = 1;

/// Largest data area of one array or object, in bytes: PostgreSQL's
/// `JENTRY_OFFLENMASK` (`src/include/utils/jsonb.h`), which bounds a jsonb
/// container there too. It also keeps every offset within 4 bytes.
pub const MAX_CONTAINER_BYTES: usize = 0x0FFF_FFFF;

// Offsets are read into `usize`; a 4-byte offset must fit.
const _: () = assert!(usize::BITS >= 32);
const _: () = assert!(MAX_CONTAINER_BYTES <= u32::MAX as usize);

/// Longest string or key in bytes: PostgreSQL's limit for jsonb strings
/// (`checkStringLen`), which is also [`MAX_CONTAINER_BYTES`].
pub(super) const MAX_STRING_BYTES: usize = MAX_CONTAINER_BYTES;

/// Checks a string or key before it is stored: no NUL, which PostgreSQL text
/// cannot hold, and no more than [`MAX_STRING_BYTES`].
pub(super) fn check_string(text: &str) -> Result<(), JsonbError> {
    if text.len() > MAX_STRING_BYTES {
        return Err(JsonbError::StringTooLong);
    }
    if text.contains('\0') {
        return Err(JsonbError::NulCharacter);
    }
    Ok(())
}

/// Value tags; see the module documentation.
pub(super) mod tag {
    pub const NULL: u8 = 0x00;
    pub const FALSE: u8 = 0x01;
    pub const TRUE: u8 = 0x02;
    pub const NUMBER: u8 = 0x03;
    pub const STRING: u8 = 0x04;
    /// An array; the low bits give the offset width.
    pub const ARRAY: u8 = 0x10;
    /// An object; the low bits give the offset width.
    pub const OBJECT: u8 = 0x20;
}

/// Returns the offset width for a width code in a tag's low bits.
fn width_of_code(code: u8) -> Option<usize> {
    match code {
        0 => Some(1),
        1 => Some(2),
        2 => Some(4),
        _ => None,
    }
}

fn code_of_width(width: usize) -> u8 {
    match width {
        1 => 0,
        2 => 1,
        4 => 2,
        _ => unreachable!("offset widths are 1, 2 or 4, not {width}"),
    }
}

/// Returns the smallest offset width that holds `max`.
fn width_for(max: usize) -> usize {
    if max <= 0xFF {
        1
    } else if max <= 0xFFFF {
        2
    } else {
        4
    }
}

fn read_uint(bytes: &[u8], at: usize, width: usize) -> Option<usize> {
    let b = bytes.get(at..at.checked_add(width)?)?;
    Some(match *b {
        [b0] => usize::from(b0),
        [b0, b1] => usize::from(u16::from_le_bytes([b0, b1])),
        [b0, b1, b2, b3] => usize::try_from(u32::from_le_bytes([b0, b1, b2, b3])).ok()?,
        _ => return None,
    })
}

fn write_uint(out: &mut Vec<u8>, value: usize, width: usize) {
    let why = "width_for chose a width that holds the value";
    match width {
        1 => out.push(u8::try_from(value).expect(why)),
        2 => out.extend_from_slice(&u16::try_from(value).expect(why).to_le_bytes()),
        4 => out.extend_from_slice(&u32::try_from(value).expect(why).to_le_bytes()),
        _ => unreachable!("offset widths are 1, 2 or 4, not {width}"),
    }
}

/// Orders object keys as PostgreSQL's `lengthCompareJsonbString`: shorter
/// first, then bytewise. This is the order of a key directory.
pub(super) fn key_order(a: &[u8], b: &[u8]) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Returns whether `text` is what `numeric_out` prints for a finite numeric
/// within numeric's limits, which is how the format stores numbers.
fn is_canonical_number(text: &[u8]) -> bool {
    let unsigned = text.strip_prefix(b"-").unwrap_or(text);
    let (int, fraction) = match unsigned.iter().position(|&c| c == b'.') {
        Some(point) => (&unsigned[..point], Some(&unsigned[point + 1..])),
        None => (unsigned, None),
    };
    let all_digits = |part: &[u8]| part.iter().all(u8::is_ascii_digit);
    if int.is_empty() || !all_digits(int) || (int.len() > 1 && int[0] == b'0') {
        return false;
    }
    if int.len() > NUMERIC_MAX_INT_DIGITS as usize {
        return false;
    }
    if let Some(fraction) = fraction {
        if fraction.is_empty()
            || fraction.len() > usize::from(NUMERIC_MAX_SCALE)
            || !all_digits(fraction)
        {
            return false;
        }
    }
    let is_zero = text.iter().all(|&c| matches!(c, b'-' | b'.' | b'0'));
    !(unsigned.len() != text.len() && is_zero)
}

/// A jsonb value read in place: a whole document's root, or any value nested
/// in one. It is cheap to copy. A nested value is a sub-slice of its parent,
/// and is itself a complete value.
///
/// Creating one checks the value's header in O(1), and each accessor checks
/// the offsets it follows, so corrupt bytes give [`JsonbError::Corrupt`]
/// rather than a panic. Nothing reads the whole document unless the
/// operation needs all of it.
#[derive(Clone, Copy)]
pub struct JsonbRef<'a> {
    /// The value's bytes, tag first.
    bytes: &'a [u8],
    kind: Kind,
    /// Elements or pairs of a container; 1 for a scalar, as PostgreSQL counts
    /// a scalar document as a one-element array.
    count: usize,
    /// A container's offset width in bytes; 0 for a scalar.
    width: usize,
    /// Where a container's offset tables start; the data area is
    /// `bytes[1..data_end]`. A scalar's payload is `bytes[1..data_end]` too.
    data_end: usize,
}

impl<'a> JsonbRef<'a> {
    /// Reads the root of a stored document (as in
    /// [`Datum::Jsonb`](crate::datum::Datum::Jsonb)), checking its version
    /// byte and root header only.
    pub fn from_document(document: &'a [u8]) -> Result<JsonbRef<'a>, JsonbError> {
        match document.split_first() {
            Some((&FORMAT_V1, value)) => JsonbRef::from_value(value),
            Some(_) => Err(JsonbError::corrupt("unknown format version")),
            None => Err(JsonbError::corrupt("empty document")),
        }
    }

    /// Reads one value's header.
    pub(super) fn from_value(bytes: &'a [u8]) -> Result<JsonbRef<'a>, JsonbError> {
        let &first = bytes.first().ok_or(JsonbError::corrupt("empty value"))?;
        let scalar = |kind, fixed_len: Option<usize>| {
            if fixed_len.is_some_and(|len| len != bytes.len()) {
                return Err(JsonbError::corrupt("scalar has the wrong length"));
            }
            Ok(JsonbRef {
                bytes,
                kind,
                count: 1,
                width: 0,
                data_end: bytes.len(),
            })
        };
        let kind = match first {
            tag::NULL => return scalar(Kind::Null, Some(1)),
            tag::FALSE | tag::TRUE => return scalar(Kind::Bool, Some(1)),
            tag::NUMBER => {
                if bytes.len() < 2 {
                    return Err(JsonbError::corrupt("empty number"));
                }
                return scalar(Kind::Number, None);
            }
            tag::STRING => return scalar(Kind::String, None),
            0x10..=0x12 => Kind::Array,
            0x20..=0x22 => Kind::Object,
            _ => return Err(JsonbError::corrupt("unknown tag")),
        };
        let width = width_of_code(first & 0x0F).expect("tags 0x10..=0x12 and 0x20..=0x22");
        let count_at = bytes
            .len()
            .checked_sub(width)
            .filter(|&at| at >= 1)
            .ok_or(JsonbError::corrupt("container too short for its count"))?;
        let count = read_uint(bytes, count_at, width).expect("the count lies within the value");
        let tables = if kind == Kind::Object { 2 } else { 1 };
        let data_end = count
            .checked_mul(width * tables)
            .and_then(|len| count_at.checked_sub(len))
            .filter(|&end| end >= 1)
            .ok_or(JsonbError::corrupt("container too short for its offsets"))?;
        Ok(JsonbRef {
            bytes,
            kind,
            count,
            width,
            data_end,
        })
    }

    /// Returns the kind of value.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Returns whether this is a scalar rather than an array or object.
    pub fn is_scalar(&self) -> bool {
        self.kind.is_scalar()
    }

    /// Returns the number of elements of an array or pairs of an object, and
    /// 1 for a scalar, as PostgreSQL's `JB_ROOT_COUNT` counts a scalar
    /// document.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Returns whether this is an empty array or object.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Returns the value's encoded bytes (a value, without the version byte).
    pub fn value_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Copies the value out as a document of its own, validating it.
    pub fn to_jsonb(&self) -> Result<Jsonb, JsonbError> {
        encode(&Node::Raw(*self))
    }

    /// Checks the whole value: every offset, every nested value, UTF-8, the
    /// canonical form and the depth limit.
    pub fn validate(&self) -> Result<(), JsonbError> {
        self.validate_at(0)
    }

    fn data(&self) -> &'a [u8] {
        &self.bytes[1..self.data_end]
    }

    /// Reads entry `i` of offset table `table` (0: elements or keys, 1:
    /// values).
    fn entry(&self, table: usize, i: usize) -> Result<usize, JsonbError> {
        debug_assert!(i < self.count, "entry {i} of {}", self.count);
        let at = self.data_end + (table * self.count + i) * self.width;
        read_uint(self.bytes, at, self.width).ok_or(JsonbError::corrupt("offset out of bounds"))
    }

    /// Returns the start and end of child `i` in offset table `table`,
    /// relative to the child's area.
    fn span(&self, table: usize, i: usize) -> Result<(usize, usize), JsonbError> {
        let end = self.entry(table, i)?;
        let start = if i == 0 { 0 } else { self.entry(table, i - 1)? };
        if start > end {
            return Err(JsonbError::corrupt("offsets decrease"));
        }
        Ok((start, end))
    }

    /// Returns element `i` of an array.
    pub(super) fn element(&self, i: usize) -> Result<JsonbRef<'a>, JsonbError> {
        debug_assert_eq!(self.kind, Kind::Array);
        let (start, end) = self.span(0, i)?;
        let bytes = self
            .data()
            .get(start..end)
            .ok_or(JsonbError::corrupt("element out of bounds"))?;
        JsonbRef::from_value(bytes)
    }

    /// Returns the elements of an array.
    pub(super) fn elements(&self) -> impl Iterator<Item = Result<JsonbRef<'a>, JsonbError>> + '_ {
        (0..self.count).map(|i| self.element(i))
    }

    /// Returns the length of an object's key area.
    fn keys_len(&self) -> Result<usize, JsonbError> {
        match self.count {
            0 => Ok(0),
            n => self.entry(0, n - 1),
        }
    }

    /// Returns the bytes of key `i` of an object.
    pub(super) fn key_bytes(&self, i: usize) -> Result<&'a [u8], JsonbError> {
        debug_assert_eq!(self.kind, Kind::Object);
        let (start, end) = self.span(0, i)?;
        self.data()
            .get(start..end)
            .ok_or(JsonbError::corrupt("key out of bounds"))
    }

    /// Returns key `i` of an object.
    pub(super) fn key(&self, i: usize) -> Result<&'a str, JsonbError> {
        std::str::from_utf8(self.key_bytes(i)?).map_err(|_| JsonbError::corrupt("key is not UTF-8"))
    }

    /// Returns value `i` of an object.
    pub(super) fn value(&self, i: usize) -> Result<JsonbRef<'a>, JsonbError> {
        debug_assert_eq!(self.kind, Kind::Object);
        let base = self.keys_len()?;
        let (start, end) = self.span(1, i)?;
        let bytes = base
            .checked_add(start)
            .zip(base.checked_add(end))
            .and_then(|(start, end)| self.data().get(start..end))
            .ok_or(JsonbError::corrupt("value out of bounds"))?;
        JsonbRef::from_value(bytes)
    }

    /// Returns the pairs of an object, in key order.
    pub(super) fn pairs(
        &self,
    ) -> impl Iterator<Item = Result<(&'a str, JsonbRef<'a>), JsonbError>> + '_ {
        (0..self.count).map(|i| Ok((self.key(i)?, self.value(i)?)))
    }

    /// Finds a key in an object by binary search over the key directory.
    pub(super) fn lookup(&self, key: &[u8]) -> Result<Option<JsonbRef<'a>>, JsonbError> {
        match self.key_index(key)? {
            Some(i) => self.value(i).map(Some),
            None => Ok(None),
        }
    }

    /// Returns the position of a key in an object.
    pub(super) fn key_index(&self, key: &[u8]) -> Result<Option<usize>, JsonbError> {
        debug_assert_eq!(self.kind, Kind::Object);
        let (mut low, mut high) = (0, self.count);
        while low < high {
            let middle = low + (high - low) / 2;
            match key_order(self.key_bytes(middle)?, key) {
                Ordering::Equal => return Ok(Some(middle)),
                Ordering::Less => low = middle + 1,
                Ordering::Greater => high = middle,
            }
        }
        Ok(None)
    }

    /// Returns a string's bytes.
    pub(super) fn string_bytes(&self) -> &'a [u8] {
        debug_assert_eq!(self.kind, Kind::String);
        &self.bytes[1..]
    }

    /// Returns a string's text.
    pub(super) fn string(&self) -> Result<&'a str, JsonbError> {
        std::str::from_utf8(self.string_bytes())
            .map_err(|_| JsonbError::corrupt("string is not UTF-8"))
    }

    /// Returns a number's text, as `numeric_out` prints it.
    pub(super) fn number_text(&self) -> Result<&'a str, JsonbError> {
        debug_assert_eq!(self.kind, Kind::Number);
        let text = &self.bytes[1..];
        if !is_canonical_number(text) {
            return Err(JsonbError::corrupt("malformed number"));
        }
        Ok(std::str::from_utf8(text).expect("canonical number text is ASCII"))
    }

    /// Returns a number's value.
    pub(super) fn numeric(&self) -> Result<crate::datum::Numeric, JsonbError> {
        self.number_text()?
            .parse()
            .map_err(|_| JsonbError::corrupt("malformed number"))
    }

    /// Returns a boolean's value.
    pub(super) fn boolean(&self) -> bool {
        debug_assert_eq!(self.kind, Kind::Bool);
        self.bytes[0] == tag::TRUE
    }

    /// Validates this value, found `depth` containers down.
    pub(super) fn validate_at(&self, depth: usize) -> Result<(), JsonbError> {
        for token in Tokens::at_depth(*self, depth) {
            match token? {
                Token::Begin(container) => container.validate_container()?,
                Token::Scalar(scalar) => scalar.validate_scalar()?,
                Token::Key(_) | Token::End(_) => {}
            }
        }
        Ok(())
    }

    fn validate_scalar(&self) -> Result<(), JsonbError> {
        match self.kind {
            Kind::Null | Kind::Bool | Kind::Array | Kind::Object => Ok(()),
            Kind::Number => self.number_text().map(drop),
            Kind::String => check_string(self.string()?)
                .map_err(|_| JsonbError::corrupt("string too long or with NUL")),
        }
    }

    /// Checks a container's own structure: width, offset tables and keys.
    /// Its children are checked as the caller's walk reaches them.
    fn validate_container(&self) -> Result<(), JsonbError> {
        let data_len = self.data_end - 1;
        if data_len > MAX_CONTAINER_BYTES {
            return Err(JsonbError::corrupt("container too large"));
        }
        if self.width != width_for(data_len.max(self.count)) {
            return Err(JsonbError::corrupt("offset width is not minimal"));
        }
        if self.kind == Kind::Array {
            return self.validate_table(0, data_len);
        }
        let keys_len = self.keys_len()?;
        self.validate_table(0, keys_len)?;
        let values_len = data_len
            .checked_sub(keys_len)
            .ok_or(JsonbError::corrupt("keys overrun the data"))?;
        self.validate_table(1, values_len)?;
        let mut previous: Option<&[u8]> = None;
        for i in 0..self.count {
            let key = self.key(i)?;
            check_string(key).map_err(|_| JsonbError::corrupt("key too long or with NUL"))?;
            if previous.is_some_and(|p| key_order(p, key.as_bytes()) != Ordering::Less) {
                return Err(JsonbError::corrupt("keys out of order"));
            }
            previous = Some(key.as_bytes());
        }
        Ok(())
    }

    /// Checks that an offset table never decreases and ends exactly at the
    /// end of its area.
    fn validate_table(&self, table: usize, area_len: usize) -> Result<(), JsonbError> {
        let mut previous = 0;
        for i in 0..self.count {
            let end = self.entry(table, i)?;
            if end < previous {
                return Err(JsonbError::corrupt("offsets decrease"));
            }
            previous = end;
        }
        if previous != area_len {
            return Err(JsonbError::corrupt("offsets do not cover the data"));
        }
        Ok(())
    }
}

impl std::fmt::Debug for JsonbRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.to_text() {
            Ok(text) => write!(f, "JsonbRef({text})"),
            Err(e) => write!(f, "JsonbRef(<{e}>)"),
        }
    }
}

/// One step of a depth-first walk over a value, as PostgreSQL's
/// `JsonbIteratorNext` reports it.
#[derive(Clone, Copy, Debug)]
pub(super) enum Token<'a> {
    /// An array or object starts; its elements, or its keys each followed
    /// by a value, come next, then [`Token::End`].
    Begin(JsonbRef<'a>),
    /// An object key; its value follows.
    Key(&'a [u8]),
    /// A scalar: an element, a value or the whole document.
    Scalar(JsonbRef<'a>),
    /// The innermost open container, given again, ends.
    End(JsonbRef<'a>),
}

/// Walks a value depth first with a stack on the heap, not the thread's
/// stack, so any depth up to [`MAX_DEPTH`] is safe. Deeper containers (which
/// only corrupt bytes have) end the walk with [`JsonbError::TooDeep`].
pub(super) struct Tokens<'a> {
    /// The root, until the walk emits it.
    root: Option<JsonbRef<'a>>,
    /// Open containers and the position of their next child (for an
    /// object, `2i` is key `i` and `2i + 1` its value).
    open: Vec<(JsonbRef<'a>, usize)>,
    /// Containers enclosing the root.
    base_depth: usize,
    failed: bool,
}

impl<'a> Tokens<'a> {
    pub(super) fn new(root: JsonbRef<'a>) -> Tokens<'a> {
        Tokens::at_depth(root, 0)
    }

    /// Walks `root` as if nested in `base_depth` containers.
    pub(super) fn at_depth(root: JsonbRef<'a>, base_depth: usize) -> Tokens<'a> {
        Tokens {
            root: Some(root),
            open: Vec::new(),
            base_depth,
            failed: false,
        }
    }

    fn enter(&mut self, value: JsonbRef<'a>) -> Result<Token<'a>, JsonbError> {
        if value.is_scalar() {
            return Ok(Token::Scalar(value));
        }
        if self.base_depth + self.open.len() >= MAX_DEPTH {
            return Err(JsonbError::TooDeep { max: MAX_DEPTH });
        }
        self.open.push((value, 0));
        Ok(Token::Begin(value))
    }

    fn step(&mut self) -> Option<Result<Token<'a>, JsonbError>> {
        if let Some(root) = self.root.take() {
            return Some(self.enter(root));
        }
        let (container, position) = {
            let top = self.open.last_mut()?;
            top.1 += 1;
            (top.0, top.1 - 1)
        };
        let children = match container.kind {
            Kind::Object => 2 * container.count,
            _ => container.count,
        };
        if position == children {
            self.open.pop();
            return Some(Ok(Token::End(container)));
        }
        Some(match container.kind {
            Kind::Object if position.is_multiple_of(2) => {
                container.key_bytes(position / 2).map(Token::Key)
            }
            Kind::Object => container
                .value(position / 2)
                .and_then(|value| self.enter(value)),
            _ => container
                .element(position)
                .and_then(|element| self.enter(element)),
        })
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Result<Token<'a>, JsonbError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let item = self.step();
        self.failed = matches!(item, Some(Err(_)));
        item
    }
}

/// Most members [`members_document`] keeps: a query reading more of a
/// document through `->` and `->>` keeps it whole.
pub const MEMBERS_MAX: usize = 8;

/// The members of the object `document` whose keys are `keys`, as a
/// document of their own: what a scan keeps of a jsonb column that its
/// query reads only through `->` and `->>` with these keys (`->` and `->>`
/// with any of them answer on it exactly as on the whole document). A scan
/// over large documents then copies a few members per row, not every
/// document. `keys` must be distinct and in key order ([`members_order`]),
/// and at most [`MEMBERS_MAX`]. `None` when `document` is not an object:
/// it is kept whole (`->` on an array or a scalar has answers of its own).
///
/// The members' bytes are copied as stored, not validated again: they come
/// from a document validated when it was written, and reading them checks
/// every offset it follows as reading any stored document does.
pub fn members_document(document: &[u8], keys: &[Box<str>]) -> Result<Option<Vec<u8>>, JsonbError> {
    assert!(keys.len() <= MEMBERS_MAX, "{} keys kept", keys.len());
    debug_assert!(
        keys.windows(2)
            .all(|w| key_order(w[0].as_bytes(), w[1].as_bytes()) == Ordering::Less),
        "keys distinct and in key order"
    );
    let root = JsonbRef::from_document(document)?;
    if root.kind != Kind::Object {
        return Ok(None);
    }
    let mut found: [(&[u8], &[u8]); MEMBERS_MAX] = [(&[], &[]); MEMBERS_MAX];
    let mut count = 0;
    let (mut keys_len, mut values_len) = (0, 0);
    for key in keys {
        if let Some(i) = root.key_index(key.as_bytes())? {
            let value = root.value(i)?.bytes;
            found[count] = (key.as_bytes(), value);
            count += 1;
            keys_len += key.len();
            values_len += value.len();
        }
    }
    let found = &found[..count];
    // The layout `OpenContainer` writes: tag, keys, values, the keys' ends,
    // the values' ends (after the keys), the count.
    let data_len = keys_len + values_len;
    let width = width_for(data_len.max(count));
    let mut out = Vec::with_capacity(2 + data_len + (2 * count + 1) * width);
    out.push(FORMAT_V1);
    out.push(tag::OBJECT | code_of_width(width));
    for (key, _) in found {
        out.extend_from_slice(key);
    }
    for (_, value) in found {
        out.extend_from_slice(value);
    }
    let mut end = 0;
    for (key, _) in found {
        end += key.len();
        write_uint(&mut out, end, width);
    }
    end = 0;
    for (_, value) in found {
        end += value.len();
        write_uint(&mut out, end, width);
    }
    write_uint(&mut out, count, width);
    Ok(Some(out))
}

/// Sorts keys into the order [`members_document`] wants them in, without
/// duplicates.
pub fn members_order(keys: &mut Vec<Box<str>>) {
    keys.sort_by(|a, b| key_order(a.as_bytes(), b.as_bytes()));
    keys.dedup();
}

/// A value to encode: built by the parser and by operators that make new
/// documents. `Raw` embeds an existing value by copying its bytes.
#[derive(Clone, Debug)]
pub(super) enum Node<'a> {
    Raw(JsonbRef<'a>),
    Null,
    Bool(bool),
    /// The text `numeric_out` prints for a finite numeric.
    Number(Cow<'a, str>),
    String(Cow<'a, str>),
    Array(Vec<Node<'a>>),
    /// Pairs in any order, duplicates allowed: the last of equal keys wins.
    Object(Vec<(Cow<'a, str>, Node<'a>)>),
}

impl Node<'_> {
    /// Returns a number node for a finite numeric.
    pub(super) fn number(value: &crate::datum::Numeric) -> Node<'static> {
        assert!(value.is_finite(), "jsonb numbers are finite, not {value}");
        Node::Number(Cow::Owned(value.to_string()))
    }
}

impl Drop for Node<'_> {
    /// Drops nested nodes with a heap stack: the derived drop would recurse
    /// once per level.
    fn drop(&mut self) {
        let mut pending = Vec::new();
        take_children(self, &mut pending);
        while let Some(mut node) = pending.pop() {
            take_children(&mut node, &mut pending);
        }
    }
}

fn take_children<'a>(node: &mut Node<'a>, into: &mut Vec<Node<'a>>) {
    match node {
        Node::Array(items) => into.append(items),
        Node::Object(pairs) => into.extend(pairs.drain(..).map(|(_, value)| value)),
        _ => {}
    }
}

/// Encodes a node as a document.
pub(super) fn encode(node: &Node<'_>) -> Result<Jsonb, JsonbError> {
    let mut out = vec![FORMAT_V1];
    encode_value(node, &mut out, 0)?;
    Ok(Jsonb::from_encoded(out))
}

/// A container [`encode_value`] is writing.
struct EncodeFrame<'n, 'a> {
    node: &'n Node<'a>,
    container: OpenContainer,
    /// For an object, the pairs to write, in key order.
    order: Vec<usize>,
    /// The next child to write.
    next: usize,
}

/// Appends a node's encoding to `out`; `depth` counts the containers it is
/// nested in. Walks the tree with a heap stack.
pub(super) fn encode_value(
    node: &Node<'_>,
    out: &mut Vec<u8>,
    depth: usize,
) -> Result<(), JsonbError> {
    let mut open: Vec<EncodeFrame<'_, '_>> = Vec::new();
    let mut current = Some(node);
    loop {
        if let Some(node) = current.take() {
            let nesting = depth + open.len();
            match node {
                Node::Raw(value) => {
                    value.validate_at(nesting)?;
                    out.extend_from_slice(value.bytes);
                }
                Node::Null => out.push(tag::NULL),
                Node::Bool(false) => out.push(tag::FALSE),
                Node::Bool(true) => out.push(tag::TRUE),
                Node::Number(text) => {
                    assert!(
                        is_canonical_number(text.as_bytes()),
                        "number node {text:?} is not canonical numeric text"
                    );
                    out.push(tag::NUMBER);
                    out.extend_from_slice(text.as_bytes());
                }
                Node::String(text) => {
                    check_string(text)?;
                    out.push(tag::STRING);
                    out.extend_from_slice(text.as_bytes());
                }
                Node::Array(_) | Node::Object(_) => {
                    if nesting >= MAX_DEPTH {
                        return Err(JsonbError::TooDeep { max: MAX_DEPTH });
                    }
                    let (container, order) = match node {
                        Node::Object(pairs) => {
                            let order = sorted_unique_pairs(pairs);
                            let mut container = OpenContainer::start(out, tag::OBJECT);
                            for &i in &order {
                                let key = &pairs[i].0;
                                check_string(key)?;
                                out.extend_from_slice(key.as_bytes());
                                container.end_child(out)?;
                            }
                            container.end_keys(out);
                            (container, order)
                        }
                        _ => (OpenContainer::start(out, tag::ARRAY), Vec::new()),
                    };
                    open.push(EncodeFrame {
                        node,
                        container,
                        order,
                        next: 0,
                    });
                }
            }
            if !matches!(node, Node::Array(_) | Node::Object(_)) {
                match open.last_mut() {
                    Some(parent) => parent.container.end_child(out)?,
                    None => return Ok(()),
                }
            }
        }
        let Some(top) = open.last_mut() else {
            return Ok(());
        };
        let child = match top.node {
            Node::Array(items) => items.get(top.next),
            Node::Object(pairs) => top.order.get(top.next).map(|&i| &pairs[i].1),
            _ => unreachable!("only containers are open"),
        };
        if let Some(child) = child {
            top.next += 1;
            current = Some(child);
            continue;
        }
        let finished = open.pop().expect("the top frame exists");
        finished.container.finish(out);
        match open.last_mut() {
            Some(parent) => parent.container.end_child(out)?,
            None => return Ok(()),
        }
    }
}

/// Returns the indices of the pairs to keep, in key order: for equal keys,
/// the last one, as PostgreSQL's `uniqueifyJsonbObject`.
pub(super) fn sorted_unique_pairs<V>(pairs: &[(Cow<'_, str>, V)]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..pairs.len()).collect();
    // A stable sort keeps equal keys in input order, so the last of a run
    // is the one written last.
    order.sort_by(|&a, &b| key_order(pairs[a].0.as_bytes(), pairs[b].0.as_bytes()));
    let mut kept = Vec::with_capacity(order.len());
    for (position, &i) in order.iter().enumerate() {
        let duplicate_follows = order
            .get(position + 1)
            .is_some_and(|&next| pairs[next].0 == pairs[i].0);
        if !duplicate_follows {
            kept.push(i);
        }
    }
    kept
}

/// A container being written: the tag first, children as they come, then
/// the offset tables and count, and finally the tag's width bits.
#[derive(Debug)]
pub(super) struct OpenContainer {
    tag_at: usize,
    data_start: usize,
    /// End of each child so far, relative to `data_start`.
    ends: Vec<usize>,
    /// An object's key ends, once its keys are written.
    key_ends: Vec<usize>,
    /// The length of an object's key area, once its keys are written.
    keys_len: usize,
}

impl OpenContainer {
    /// Writes a container tag (without width bits) and starts its data.
    pub(super) fn start(out: &mut Vec<u8>, kind_tag: u8) -> OpenContainer {
        let tag_at = out.len();
        out.push(kind_tag);
        OpenContainer::resume(out, tag_at, Vec::new())
    }

    /// Continues an array whose tag is at `tag_at` and whose elements so far
    /// end at `ends`.
    pub(super) fn resume(out: &[u8], tag_at: usize, ends: Vec<usize>) -> OpenContainer {
        assert!(tag_at < out.len(), "the container's tag is already written");
        OpenContainer {
            tag_at,
            data_start: tag_at + 1,
            ends,
            key_ends: Vec::new(),
            keys_len: 0,
        }
    }

    fn what(&self, out: &[u8]) -> &'static str {
        if out[self.tag_at] & 0xF0 == tag::OBJECT {
            "object"
        } else {
            "array"
        }
    }

    /// Records that a child (or key) ends at the current end of `out`.
    pub(super) fn end_child(&mut self, out: &[u8]) -> Result<(), JsonbError> {
        let end = out.len() - self.data_start;
        if end > MAX_CONTAINER_BYTES {
            return Err(JsonbError::TooLarge {
                what: self.what(out),
                max: MAX_CONTAINER_BYTES,
            });
        }
        self.ends.push(end);
        Ok(())
    }

    /// Marks the end of an object's keys; the values follow.
    pub(super) fn end_keys(&mut self, out: &[u8]) {
        self.keys_len = out.len() - self.data_start;
        self.key_ends = std::mem::take(&mut self.ends);
    }

    /// Writes the offset tables and the count, and sets the width bits.
    pub(super) fn finish(self, out: &mut Vec<u8>) {
        let data_len = out.len() - self.data_start;
        let count = self.ends.len();
        let is_object = out[self.tag_at] & 0xF0 == tag::OBJECT;
        assert!(
            !is_object || self.key_ends.len() == count,
            "an object has {} keys and {count} values",
            self.key_ends.len()
        );
        let width = width_for(data_len.max(count));
        for &end in &self.key_ends {
            write_uint(out, end, width);
        }
        for &end in &self.ends {
            write_uint(out, end - self.keys_len, width);
        }
        write_uint(out, count, width);
        out[self.tag_at] |= code_of_width(width);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Jsonb {
        super::super::parse(text).expect("parses")
    }

    #[test]
    fn layout_is_as_documented() {
        assert_eq!(doc("null").as_bytes(), [FORMAT_V1, tag::NULL]);
        assert_eq!(doc("true").as_bytes(), [FORMAT_V1, tag::TRUE]);
        assert_eq!(doc("1.50").as_bytes(), b"\x01\x031.50");
        assert_eq!(doc("\"a\"").as_bytes(), b"\x01\x04a");
        assert_eq!(doc("[]").as_bytes(), [FORMAT_V1, tag::ARRAY, 0]);
        assert_eq!(doc("{}").as_bytes(), [FORMAT_V1, tag::OBJECT, 0]);
        // [1, "ab"]: elements end at 2 and 5; count 2.
        assert_eq!(
            doc("[1, \"ab\"]").as_bytes(),
            b"\x01\x10\x031\x04ab\x02\x05\x02"
        );
        // {"bb": true, "a": null}: key "a" sorts first (shorter).
        assert_eq!(
            doc("{\"bb\": true, \"a\": null}").as_bytes(),
            b"\x01\x20abb\x00\x02\x01\x03\x01\x02\x02"
        );
    }

    #[test]
    fn offsets_widen_with_the_data() {
        let long = format!("[\"{}\"]", "x".repeat(300));
        let bytes = doc(&long).into_bytes();
        assert_eq!(bytes[1], tag::ARRAY | 1);
        let longer = format!("[\"{}\"]", "x".repeat(70_000));
        let bytes = doc(&longer).into_bytes();
        assert_eq!(bytes[1], tag::ARRAY | 2);
        assert_eq!(doc(&longer).to_string(), longer);
    }

    #[test]
    fn canonical_numbers() {
        for good in ["0", "-1", "1.50", "0.000", "-0.001", "100"] {
            assert!(is_canonical_number(good.as_bytes()), "{good}");
        }
        for bad in [
            "", "-", "-0", "-0.00", "01", "1.", ".5", "1e5", "+1", "1.5.", "NaN", "1 ",
        ] {
            assert!(!is_canonical_number(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn duplicate_keys_keep_the_last() {
        let pairs: Vec<(Cow<'_, str>, u8)> = vec![
            ("b".into(), 0),
            ("a".into(), 1),
            ("b".into(), 2),
            ("aa".into(), 3),
        ];
        assert_eq!(sorted_unique_pairs(&pairs), vec![1, 2, 3]);
    }

    #[test]
    fn corrupt_documents_are_rejected() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "empty"),
            (b"\x02\x00", "version"),
            (b"\x01", "no value"),
            (b"\x01\x00\x00", "null with payload"),
            (b"\x01\x03", "empty number"),
            (b"\x01\x03-0", "negative zero"),
            (b"\x01\x0301", "leading zero"),
            (b"\x01\x04\xC3\x28", "bad UTF-8"),
            (b"\x01\x04a\x00b", "NUL"),
            (b"\x01\x05", "unknown tag"),
            (b"\x01\x13\x00", "bad width"),
            (b"\x01\x10", "no count"),
            (b"\x01\x10\x05", "count beyond the data"),
            (b"\x01\x10\x00\x00", "trailing data"),
            (b"\x01\x10\x00\x01", "empty element"),
            (b"\x01\x10\x00\x02\x01", "element past the data"),
            (b"\x01\x11\x00\x00", "width not minimal"),
            (
                b"\x01\x20ba\x00\x00\x01\x02\x01\x02\x02",
                "keys out of order",
            ),
            (b"\x01\x20aa\x00\x00\x01\x02\x01\x02\x02", "duplicate keys"),
        ];
        for (bytes, why) in cases {
            assert!(Jsonb::from_bytes(bytes.to_vec()).is_err(), "{why} accepted");
        }
    }
}
