//! The jsonb operators and functions, each following its PostgreSQL
//! implementation in `src/backend/utils/adt/jsonfuncs.c` and `jsonb_op.c`.
//!
//! Text-array arguments (`#>`, `?|`, `jsonb_set`, ...) are `&[Option<&str>]`
//! so that NULL elements get PostgreSQL's treatment. A function that returns
//! SQL NULL returns `None`.

use std::borrow::Cow;

use super::format::{encode, Node};
use super::{Jsonb, JsonbError, JsonbRef, Kind, MAX_DEPTH};

/// Parses an array index or path element as PostgreSQL's `strtoint` with the
/// checks its callers make: optional leading whitespace and sign, decimal
/// digits to the end, and within `int4`.
fn parse_index(text: &str) -> Option<i32> {
    let trimmed = text.trim_start_matches([' ', '\t', '\n', '\u{b}', '\u{c}', '\r']);
    let unsigned = trimmed.strip_prefix(['+', '-']).unwrap_or(trimmed);
    if unsigned.is_empty() || !unsigned.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    trimmed.strip_prefix('+').unwrap_or(trimmed).parse().ok()
}

/// How [`set_path`] changes the value at the end of the path: PostgreSQL's
/// `JB_PATH_*` operations (without the subscripting-only `FILL_GAPS`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum PathOp {
    Create,
    Replace,
    Delete,
    InsertBefore,
    InsertAfter,
}

impl PathOp {
    /// `JB_PATH_CREATE_OR_INSERT`: the operation adds a missing key or
    /// element.
    fn adds(self) -> bool {
        matches!(
            self,
            PathOp::Create | PathOp::InsertBefore | PathOp::InsertAfter
        )
    }
}

impl<'a> JsonbRef<'a> {
    /// `jsonb_typeof`: `object`, `array`, `string`, `number`, `boolean` or
    /// `null`.
    pub fn type_name(&self) -> &'static str {
        self.kind().type_name()
    }

    /// `->` with a text key: the key's value, or `None` if this is not an
    /// object or lacks the key.
    pub fn get(&self, key: &str) -> Result<Option<JsonbRef<'a>>, JsonbError> {
        if self.kind() != Kind::Object {
            return Ok(None);
        }
        self.lookup(key.as_bytes())
    }

    /// `->>` with a text key: [`get`](Self::get) as text, JSON null giving
    /// `None`.
    pub fn get_text(&self, key: &str) -> Result<Option<String>, JsonbError> {
        match self.get(key)? {
            Some(value) => value.as_text(),
            None => Ok(None),
        }
    }

    /// `->` with an integer: the array element, counting from the end when
    /// negative, or `None`. A scalar document counts as a one-element array,
    /// as in PostgreSQL (`'1'::jsonb -> 0` is `1`).
    pub fn index(&self, index: i32) -> Result<Option<JsonbRef<'a>>, JsonbError> {
        if self.kind() == Kind::Object {
            return Ok(None);
        }
        let len = i64::try_from(self.len()).unwrap_or(i64::MAX);
        let mut i = i64::from(index);
        if i < 0 {
            i += len;
        }
        if i < 0 || i >= len {
            return Ok(None);
        }
        let i = usize::try_from(i).expect("0 <= i < len");
        if self.is_scalar() {
            return Ok(Some(*self));
        }
        self.element(i).map(Some)
    }

    /// `->>` with an integer: [`index`](Self::index) as text.
    pub fn index_text(&self, index: i32) -> Result<Option<String>, JsonbError> {
        match self.index(index)? {
            Some(value) => value.as_text(),
            None => Ok(None),
        }
    }

    /// `#>`: follows a path of keys and array indexes, as PostgreSQL's
    /// `jsonb_get_element`. `None` if a step is missing, an index is not an
    /// integer, the path has a NULL, or it runs into a scalar. An empty path
    /// returns the value itself.
    pub fn get_path(&self, path: &[Option<&str>]) -> Result<Option<JsonbRef<'a>>, JsonbError> {
        if path.iter().any(Option::is_none) {
            return Ok(None);
        }
        let mut current = *self;
        if current.is_scalar() && !path.is_empty() {
            return Ok(None);
        }
        for step in path.iter().flatten() {
            let next = match current.kind() {
                Kind::Object => current.lookup(step.as_bytes())?,
                Kind::Array => match parse_index(step) {
                    Some(index) => current.index(index)?,
                    None => None,
                },
                _ => None,
            };
            match next {
                Some(value) => current = value,
                None => return Ok(None),
            }
        }
        Ok(Some(current))
    }

    /// `#>>`: [`get_path`](Self::get_path) as text.
    pub fn get_path_text(&self, path: &[Option<&str>]) -> Result<Option<String>, JsonbError> {
        match self.get_path(path)? {
            Some(value) => value.as_text(),
            None => Ok(None),
        }
    }

    /// `?`: whether the string is a top-level key of an object, a string
    /// element of an array, or the string of a scalar document.
    pub fn exists(&self, key: &str) -> Result<bool, JsonbError> {
        let key = key.as_bytes();
        match self.kind() {
            Kind::Object => Ok(self.lookup(key)?.is_some()),
            Kind::Array => {
                for element in self.elements() {
                    let element = element?;
                    if element.kind() == Kind::String && element.string_bytes() == key {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Kind::String => Ok(self.string_bytes() == key),
            Kind::Null | Kind::Number | Kind::Bool => Ok(false),
        }
    }

    /// `?|`: whether any of the strings exists (see [`exists`](Self::exists)).
    /// NULL elements are skipped.
    pub fn exists_any(&self, keys: &[Option<&str>]) -> Result<bool, JsonbError> {
        for key in keys.iter().flatten() {
            if self.exists(key)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// `?&`: whether all of the strings exist. NULL elements are skipped, and
    /// an empty array gives true.
    pub fn exists_all(&self, keys: &[Option<&str>]) -> Result<bool, JsonbError> {
        for key in keys.iter().flatten() {
            if !self.exists(key)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// `@>`: whether this value contains `other`, as PostgreSQL's
    /// `JsonbDeepContains`. An object contains an object whose pairs it has
    /// (recursively). An array contains an array whose every element
    /// matches some element of it, regardless of order or repeats, and also
    /// contains a scalar it has as an element (`'[1, 2]' @> '1'`). A scalar
    /// contains only an equal scalar.
    pub fn contains(&self, other: &JsonbRef<'_>) -> Result<bool, JsonbError> {
        deep_contains(self, other)
    }

    /// `<@`: whether `other` contains this value.
    pub fn contained_by(&self, other: &JsonbRef<'_>) -> Result<bool, JsonbError> {
        other.contains(self)
    }

    /// `jsonb_array_length`.
    pub fn array_length(&self) -> Result<i32, JsonbError> {
        match self.kind() {
            Kind::Array => {
                i32::try_from(self.len()).map_err(|_| JsonbError::corrupt("array longer than int4"))
            }
            Kind::Object => Err(JsonbError::invalid(
                "cannot get array length of a non-array",
            )),
            _ => Err(JsonbError::invalid("cannot get array length of a scalar")),
        }
    }

    /// `jsonb_object_keys`: the keys, in storage order (shorter first).
    pub fn object_keys(&self) -> Result<Vec<&'a str>, JsonbError> {
        match self.kind() {
            Kind::Object => (0..self.len()).map(|i| self.key(i)).collect(),
            Kind::Array => Err(JsonbError::invalid(
                "cannot call jsonb_object_keys on an array",
            )),
            _ => Err(JsonbError::invalid(
                "cannot call jsonb_object_keys on a scalar",
            )),
        }
    }

    /// `jsonb_each`: the key-value pairs, in storage order.
    pub fn each(&self) -> Result<Vec<(&'a str, JsonbRef<'a>)>, JsonbError> {
        self.require_object("jsonb_each")?;
        self.pairs().collect()
    }

    /// `jsonb_each_text`: the pairs with values as text, JSON null as `None`.
    pub fn each_text(&self) -> Result<Vec<(&'a str, Option<String>)>, JsonbError> {
        self.require_object("jsonb_each_text")?;
        self.pairs()
            .map(|pair| {
                let (key, value) = pair?;
                Ok((key, value.as_text()?))
            })
            .collect()
    }

    /// `jsonb_array_elements`.
    pub fn array_elements(&self) -> Result<Vec<JsonbRef<'a>>, JsonbError> {
        self.require_array()?;
        self.elements().collect()
    }

    /// `jsonb_array_elements_text`: elements as text, JSON null as `None`.
    pub fn array_elements_text(&self) -> Result<Vec<Option<String>>, JsonbError> {
        self.require_array()?;
        self.elements().map(|element| element?.as_text()).collect()
    }

    fn require_object(&self, function: &str) -> Result<(), JsonbError> {
        if self.kind() != Kind::Object {
            return Err(JsonbError::invalid(format!(
                "cannot call {function} on a non-object"
            )));
        }
        Ok(())
    }

    fn require_array(&self) -> Result<(), JsonbError> {
        match self.kind() {
            Kind::Array => Ok(()),
            Kind::Object => Err(JsonbError::invalid(
                "cannot extract elements from an object",
            )),
            _ => Err(JsonbError::invalid("cannot extract elements from a scalar")),
        }
    }

    /// `||`, as PostgreSQL's `IteratorConcat`: two objects merge (the right
    /// side wins on equal keys), two arrays append, and otherwise both sides
    /// become array elements: a scalar counts as a one-element array, and an
    /// object becomes one element.
    pub fn concat(&self, other: &JsonbRef<'a>) -> Result<Jsonb, JsonbError> {
        let node = match (self.kind(), other.kind()) {
            (Kind::Object, Kind::Object) => {
                let mut pairs = object_nodes(self)?;
                pairs.extend(object_nodes(other)?);
                Node::Object(pairs)
            }
            _ => {
                let mut items = array_nodes(self)?;
                items.extend(array_nodes(other)?);
                Node::Array(items)
            }
        };
        encode(&node)
    }

    /// `-` with a text key: removes the key from an object, or every string
    /// element equal to it from an array.
    pub fn delete_key(&self, key: &str) -> Result<Jsonb, JsonbError> {
        self.delete_keys(&[Some(key)])
    }

    /// `-` with a text array: removes each of the keys (see
    /// [`delete_key`](Self::delete_key)); NULL elements are skipped.
    pub fn delete_keys(&self, keys: &[Option<&str>]) -> Result<Jsonb, JsonbError> {
        if self.is_scalar() {
            return Err(JsonbError::invalid("cannot delete from scalar"));
        }
        let doomed = |text: &[u8]| keys.iter().flatten().any(|k| k.as_bytes() == text);
        let node = if self.kind() == Kind::Object {
            let mut pairs = Vec::with_capacity(self.len());
            for pair in self.pairs() {
                let (key, value) = pair?;
                if !doomed(key.as_bytes()) {
                    pairs.push((Cow::Borrowed(key), Node::Raw(value)));
                }
            }
            Node::Object(pairs)
        } else {
            let mut items = Vec::with_capacity(self.len());
            for element in self.elements() {
                let element = element?;
                if element.kind() != Kind::String || !doomed(element.string_bytes()) {
                    items.push(Node::Raw(element));
                }
            }
            Node::Array(items)
        };
        encode(&node)
    }

    /// `-` with an integer: removes an array element, counting from the end
    /// when negative. Out of range leaves the array as it is.
    pub fn delete_index(&self, index: i32) -> Result<Jsonb, JsonbError> {
        match self.kind() {
            Kind::Array => {}
            Kind::Object => {
                return Err(JsonbError::invalid(
                    "cannot delete from object using integer index",
                ))
            }
            _ => return Err(JsonbError::invalid("cannot delete from scalar")),
        }
        let len = i64::try_from(self.len()).unwrap_or(i64::MAX);
        let mut i = i64::from(index);
        if i < 0 {
            i += len;
        }
        let items = self
            .elements()
            .enumerate()
            .filter(|&(position, _)| i64::try_from(position).ok() != Some(i))
            .map(|(_, element)| element.map(Node::Raw))
            .collect::<Result<Vec<_>, _>>()?;
        encode(&Node::Array(items))
    }

    /// `#-`: removes the key or element at the end of a path.
    pub fn delete_path(&self, path: &[Option<&str>]) -> Result<Jsonb, JsonbError> {
        if self.is_scalar() {
            return Err(JsonbError::invalid("cannot delete path in scalar"));
        }
        if self.is_empty() || path.is_empty() {
            return self.to_jsonb();
        }
        encode(&set_path(self, path, &Node::Null, PathOp::Delete)?)
    }

    /// `jsonb_set(target, path, new_value, create_missing)`: replaces the
    /// value at the end of the path. With `create_missing`, a missing last
    /// key is added, and a missing array index appends (or prepends, for a
    /// negative index before the start). Earlier steps must exist.
    pub fn set(
        &self,
        path: &[Option<&str>],
        new_value: &JsonbRef<'a>,
        create_missing: bool,
    ) -> Result<Jsonb, JsonbError> {
        if self.is_scalar() {
            return Err(JsonbError::invalid("cannot set path in scalar"));
        }
        if (self.is_empty() && !create_missing) || path.is_empty() {
            return self.to_jsonb();
        }
        let op = if create_missing {
            PathOp::Create
        } else {
            PathOp::Replace
        };
        encode(&set_path(self, path, &Node::Raw(*new_value), op)?)
    }

    /// `jsonb_strip_nulls`: removes object fields whose value is `null`,
    /// at any depth; `null` array elements stay.
    pub fn strip_nulls(&self) -> Result<Jsonb, JsonbError> {
        Jsonb::parse(&self.strip_nulls_text()?)
    }

    /// `jsonb_insert(target, path, new_value, insert_after)`: inserts into an
    /// array before (or after) the element at the end of the path, or adds a
    /// missing key to an object. An existing key is an error.
    pub fn insert(
        &self,
        path: &[Option<&str>],
        new_value: &JsonbRef<'a>,
        insert_after: bool,
    ) -> Result<Jsonb, JsonbError> {
        if self.is_scalar() {
            return Err(JsonbError::invalid("cannot set path in scalar"));
        }
        if path.is_empty() {
            return self.to_jsonb();
        }
        let op = if insert_after {
            PathOp::InsertAfter
        } else {
            PathOp::InsertBefore
        };
        encode(&set_path(self, path, &Node::Raw(*new_value), op)?)
    }
}

/// An object's pairs as nodes that copy the values.
fn object_nodes<'a>(value: &JsonbRef<'a>) -> Result<Vec<(Cow<'a, str>, Node<'a>)>, JsonbError> {
    value
        .pairs()
        .map(|pair| {
            let (key, value) = pair?;
            Ok((Cow::Borrowed(key), Node::Raw(value)))
        })
        .collect()
}

/// A value as array elements for `||`: an array's elements, or the value
/// itself for a scalar or an object.
fn array_nodes<'a>(value: &JsonbRef<'a>) -> Result<Vec<Node<'a>>, JsonbError> {
    match value.kind() {
        Kind::Array => value.elements().map(|e| e.map(Node::Raw)).collect(),
        _ => Ok(vec![Node::Raw(*value)]),
    }
}

/// PostgreSQL's `setPath`, without recursion: walks down while the path
/// matches, applies `op` where the path ends, then rebuilds the containers
/// above with the changed child. Everything off the path is copied. The
/// path is not empty.
fn set_path<'a>(
    root: &JsonbRef<'a>,
    path: &[Option<&str>],
    new_value: &Node<'a>,
    op: PathOp,
) -> Result<Node<'a>, JsonbError> {
    let last = path.len() - 1;
    // The containers walked through and the child taken in each.
    let mut above: Vec<(JsonbRef<'a>, usize)> = Vec::new();
    let mut value = *root;
    let mut node = loop {
        let level = above.len();
        let Some(step) = path[level] else {
            return Err(JsonbError::NullPathElement {
                position: level + 1,
            });
        };
        match value.kind() {
            Kind::Object if level == last => {
                break set_in_object(&value, step, new_value, op)?;
            }
            Kind::Object => match value.key_index(step.as_bytes())? {
                Some(i) => {
                    above.push((value, i));
                    value = value.value(i)?;
                }
                None => break Node::Raw(value),
            },
            Kind::Array => {
                let index = parse_index(step).ok_or_else(|| JsonbError::PathElementNotInteger {
                    position: level + 1,
                    element: step.to_owned(),
                })?;
                let target = array_target(index, value.len());
                if level == last {
                    break set_in_array(&value, target, new_value, op)?;
                }
                match target {
                    Some(i) if i < value.len() => {
                        above.push((value, i));
                        value = value.element(i)?;
                    }
                    _ => break Node::Raw(value),
                }
            }
            _ => break Node::Raw(value),
        }
    };
    while let Some((container, changed)) = above.pop() {
        node = if container.kind() == Kind::Object {
            let mut pairs = object_nodes(&container)?;
            pairs[changed].1 = node;
            Node::Object(pairs)
        } else {
            let mut items = array_nodes(&container)?;
            items[changed] = node;
            Node::Array(items)
        };
    }
    Ok(node)
}

/// Normalizes an index into an array of `len` elements as `setPathArray`:
/// negative counts from the end, past the end means the end, and `None`
/// (PostgreSQL's `INT_MIN`) means before the start.
fn array_target(index: i32, len: usize) -> Option<usize> {
    let len_signed = i64::try_from(len).unwrap_or(i64::MAX);
    let index = i64::from(index);
    if index < 0 {
        let from_end = index + len_signed;
        return usize::try_from(from_end).ok();
    }
    Some(usize::try_from(index).map_or(len, |i| i.min(len)))
}

/// `setPathObject` at the last path step.
fn set_in_object<'a>(
    value: &JsonbRef<'a>,
    step: &str,
    new_value: &Node<'a>,
    op: PathOp,
) -> Result<Node<'a>, JsonbError> {
    let mut pairs = Vec::with_capacity(value.len() + 1);
    let mut found = false;
    for pair in value.pairs() {
        let (key, child) = pair?;
        if found || key != step {
            pairs.push((Cow::Borrowed(key), Node::Raw(child)));
            continue;
        }
        found = true;
        match op {
            PathOp::InsertBefore | PathOp::InsertAfter => {
                return Err(JsonbError::InvalidParameter {
                    message: "cannot replace existing key".to_owned(),
                    hint: Some("Try using the function jsonb_set to replace key value."),
                })
            }
            PathOp::Delete => {}
            PathOp::Create | PathOp::Replace => {
                pairs.push((Cow::Borrowed(key), new_value.clone()));
            }
        }
    }
    if !found && op.adds() {
        pairs.push((Cow::Owned(step.to_owned()), new_value.clone()));
    }
    Ok(Node::Object(pairs))
}

/// `setPathArray` at the last path step; `target` as [`array_target`]
/// gives it.
fn set_in_array<'a>(
    value: &JsonbRef<'a>,
    target: Option<usize>,
    new_value: &Node<'a>,
    op: PathOp,
) -> Result<Node<'a>, JsonbError> {
    let mut items = Vec::with_capacity(value.len() + 1);
    let mut done = false;
    if (target.is_none() || value.is_empty()) && op.adds() {
        items.push(new_value.clone());
        done = true;
    }
    for (i, element) in value.elements().enumerate() {
        let element = element?;
        if target != Some(i) {
            items.push(Node::Raw(element));
            continue;
        }
        done = true;
        if matches!(op, PathOp::InsertBefore | PathOp::Create) {
            items.push(new_value.clone());
        }
        if matches!(op, PathOp::InsertBefore | PathOp::InsertAfter) {
            items.push(Node::Raw(element));
        }
        if matches!(op, PathOp::InsertAfter | PathOp::Replace) {
            items.push(new_value.clone());
        }
    }
    if op.adds() && !done {
        items.push(new_value.clone());
    }
    Ok(Node::Array(items))
}

/// Element `i` of an array, or a scalar as the one element of PostgreSQL's
/// raw-scalar pseudo-array.
fn pseudo_element<'b>(value: &JsonbRef<'b>, i: usize) -> Result<JsonbRef<'b>, JsonbError> {
    if value.is_scalar() {
        Ok(*value)
    } else {
        value.element(i)
    }
}

/// Equality of two scalars, as PostgreSQL's `equalsJsonbScalarValue`:
/// numbers by value, strings by bytes.
pub(super) fn scalars_equal(a: &JsonbRef<'_>, b: &JsonbRef<'_>) -> Result<bool, JsonbError> {
    Ok(match (a.kind(), b.kind()) {
        (Kind::Null, Kind::Null) => true,
        (Kind::Bool, Kind::Bool) => a.boolean() == b.boolean(),
        (Kind::String, Kind::String) => a.string_bytes() == b.string_bytes(),
        (Kind::Number, Kind::Number) => {
            a.number_text()? == b.number_text()? || a.numeric()? == b.numeric()?
        }
        _ => false,
    })
}

/// PostgreSQL's `JsonbDeepContains`, with a heap stack of pending tests in
/// place of its recursion.
fn deep_contains(value: &JsonbRef<'_>, contained: &JsonbRef<'_>) -> Result<bool, JsonbError> {
    let Some(first) = ContainsTest::open(*value, *contained) else {
        return Ok(false);
    };
    let mut tests = vec![first];
    // The answer of the test just finished, for the one below it.
    let mut answer: Option<bool> = None;
    loop {
        let top = tests.last_mut().expect("a test is pending");
        let step = match answer.take() {
            Some(found) => top.resume(found)?,
            None => top.advance()?,
        };
        match step {
            Step::Descend(have, wanted) => match ContainsTest::open(have, wanted) {
                Some(test) => {
                    if tests.len() >= MAX_DEPTH {
                        return Err(JsonbError::TooDeep { max: MAX_DEPTH });
                    }
                    tests.push(test);
                }
                None => answer = Some(false),
            },
            Step::Done(result) => {
                tests.pop();
                if tests.is_empty() {
                    return Ok(result);
                }
                answer = Some(result);
            }
        }
    }
}

/// What a [`ContainsTest`] needs next.
enum Step<'v, 'c> {
    /// The answer to whether `.0` contains `.1`.
    Descend(JsonbRef<'v>, JsonbRef<'c>),
    /// This test's answer.
    Done(bool),
}

/// One pending test in [`deep_contains`]: does `value` contain `contained`?
/// Both are at the same nesting level.
struct ContainsTest<'v, 'c> {
    value: JsonbRef<'v>,
    contained: JsonbRef<'c>,
    /// The next child of `contained` to find in `value`.
    next: usize,
    /// For arrays: `value`'s container elements, gathered when a contained
    /// container first needs them, and which of them is being tried.
    candidates: Option<Vec<JsonbRef<'v>>>,
    trying: usize,
}

impl<'v, 'c> ContainsTest<'v, 'c> {
    /// Starts a test, or returns `None` when the shapes already rule it out.
    fn open(value: JsonbRef<'v>, contained: JsonbRef<'c>) -> Option<ContainsTest<'v, 'c>> {
        // Scalars act as one-element "raw scalar" arrays, so only
        // object-ness separates the two sides here.
        if (value.kind() == Kind::Object) != (contained.kind() == Kind::Object) {
            return None;
        }
        // Keys are unique, so an object cannot contain a larger one.
        if value.kind() == Kind::Object && value.len() < contained.len() {
            return None;
        }
        // A raw scalar may contain a raw scalar, and an array may contain a
        // raw scalar, but a raw scalar may not contain an array.
        if value.is_scalar() && !contained.is_scalar() {
            return None;
        }
        Some(ContainsTest {
            value,
            contained,
            next: 0,
            candidates: None,
            trying: 0,
        })
    }

    /// Checks children of `contained` from `next` on, until one needs a
    /// nested test or the answer is known.
    fn advance(&mut self) -> Result<Step<'v, 'c>, JsonbError> {
        while self.next < self.contained.len() {
            if self.value.kind() == Kind::Object {
                let key = self.contained.key_bytes(self.next)?;
                let wanted = self.contained.value(self.next)?;
                let Some(have) = self.value.lookup(key)? else {
                    return Ok(Step::Done(false));
                };
                match (have.is_scalar(), wanted.is_scalar()) {
                    (true, true) if scalars_equal(&have, &wanted)? => self.next += 1,
                    (false, false) => return Ok(Step::Descend(have, wanted)),
                    _ => return Ok(Step::Done(false)),
                }
                continue;
            }
            let wanted = pseudo_element(&self.contained, self.next)?;
            if !wanted.is_scalar() {
                if self.candidates.is_none() {
                    let mut containers = Vec::new();
                    for i in 0..self.value.len() {
                        let element = pseudo_element(&self.value, i)?;
                        if !element.is_scalar() {
                            containers.push(element);
                        }
                    }
                    self.candidates = Some(containers);
                }
                let candidates = self.candidates.as_deref().unwrap_or_default();
                let Some(&first) = candidates.first() else {
                    return Ok(Step::Done(false));
                };
                self.trying = 0;
                return Ok(Step::Descend(first, wanted));
            }
            let mut found = false;
            for i in 0..self.value.len() {
                let have = pseudo_element(&self.value, i)?;
                if have.kind() == wanted.kind() && scalars_equal(&have, &wanted)? {
                    found = true;
                    break;
                }
            }
            if !found {
                return Ok(Step::Done(false));
            }
            self.next += 1;
        }
        Ok(Step::Done(true))
    }

    /// Takes the answer of the nested test for child `next`, then carries on.
    fn resume(&mut self, found: bool) -> Result<Step<'v, 'c>, JsonbError> {
        if found {
            self.next += 1;
            return self.advance();
        }
        if self.value.kind() == Kind::Object {
            return Ok(Step::Done(false));
        }
        // Try the next container element of `value`.
        self.trying += 1;
        let candidates = self.candidates.as_deref().unwrap_or_default();
        match candidates.get(self.trying) {
            Some(&candidate) => Ok(Step::Descend(
                candidate,
                pseudo_element(&self.contained, self.next)?,
            )),
            None => Ok(Step::Done(false)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_parse_as_strtoint() {
        for (text, expected) in [
            ("0", Some(0)),
            ("-1", Some(-1)),
            ("+2", Some(2)),
            (" 3", Some(3)),
            ("\t-4", Some(-4)),
            ("007", Some(7)),
            ("2147483647", Some(i32::MAX)),
            ("-2147483648", Some(i32::MIN)),
            ("2147483648", None),
            ("", None),
            ("-", None),
            ("1 ", None),
            ("1a", None),
            ("a", None),
            ("+-1", None),
            ("1.0", None),
        ] {
            assert_eq!(parse_index(text), expected, "{text:?}");
        }
    }
}
