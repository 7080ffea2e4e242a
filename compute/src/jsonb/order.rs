//! The btree ordering of jsonb and a hash consistent with it: PostgreSQL's
//! `compareJsonbContainers` (`src/backend/utils/adt/jsonb_util.c`).
//!
//! Values of different kinds order as Object > Array > Boolean > Number >
//! String > Null. Objects with more pairs are greater, and so are arrays
//! with more elements. Equal-sized objects compare their pairs in storage
//! order (key, then value), and arrays compare element by element. Strings
//! compare bytewise (the "C" collation), numbers by value, and false <
//! true.
//!
//! At the top level PostgreSQL compares a scalar as a one-element raw-scalar
//! array. So a scalar sorts below an array of one or more elements but above
//! the empty array (`'[]' < 'null'`, the quirk its documentation mentions),
//! and below any object.

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

use super::format::{Token, Tokens};
use super::{JsonbError, JsonbRef, Kind};

/// Ranks kinds as PostgreSQL's `enum jbvType` does.
fn rank(kind: Kind) -> u8 {
    match kind {
        Kind::Null => 0,
        Kind::String => 1,
        Kind::Number => 2,
        Kind::Bool => 3,
        Kind::Array => 4,
        Kind::Object => 5,
    }
}

impl JsonbRef<'_> {
    /// Compares two documents in PostgreSQL's btree order (see the module
    /// documentation of `order.rs`).
    pub fn compare(&self, other: &JsonbRef<'_>) -> Result<Ordering, JsonbError> {
        let (a, b) = (self, other);
        let (a_object, b_object) = (a.kind() == Kind::Object, b.kind() == Kind::Object);
        if a_object != b_object {
            return Ok(a_object.cmp(&b_object));
        }
        if !a_object {
            // Both are arrays or raw-scalar pseudo-arrays. The element count
            // overrides the raw-scalar test, as in PostgreSQL.
            let mut order = b.is_scalar().cmp(&a.is_scalar());
            if a.len() != b.len() {
                order = a.len().cmp(&b.len());
            }
            if order != Ordering::Equal {
                return Ok(order);
            }
        }
        // Walk both token by token, as `compareJsonbContainers`. Containers
        // of unequal size differ at their start, so the walks stay aligned
        // up to the first difference.
        let mut walk_a = Tokens::new(*a);
        let mut walk_b = Tokens::new(*b);
        loop {
            let order = match (walk_a.next(), walk_b.next()) {
                (None, None) => return Ok(Ordering::Equal),
                (Some(x), Some(y)) => compare_tokens(x?, y?)?,
                _ => return Err(JsonbError::corrupt("walks of equal values diverge")),
            };
            if order != Ordering::Equal {
                return Ok(order);
            }
        }
    }

    /// Feeds the value to a hasher so that values [`compare`](Self::compare)
    /// finds equal hash equally: numbers hash by value.
    pub fn hash_into<H: Hasher>(&self, state: &mut H) -> Result<(), JsonbError> {
        for token in Tokens::new(*self) {
            match token? {
                Token::Begin(container) => {
                    rank(container.kind()).hash(state);
                    container.len().hash(state);
                }
                Token::Key(key) => key.hash(state),
                Token::Scalar(scalar) => {
                    rank(scalar.kind()).hash(state);
                    match scalar.kind() {
                        Kind::Bool => scalar.boolean().hash(state),
                        Kind::String => scalar.string_bytes().hash(state),
                        Kind::Number => scalar.numeric()?.hash(state),
                        Kind::Null | Kind::Array | Kind::Object => {}
                    }
                }
                Token::End(_) => 0xFFu8.hash(state),
            }
        }
        Ok(())
    }
}

/// Compares two aligned tokens of equal-shaped walks.
fn compare_tokens(a: Token<'_>, b: Token<'_>) -> Result<Ordering, JsonbError> {
    Ok(match (a, b) {
        (Token::End(_), Token::End(_)) => Ordering::Equal,
        (Token::Key(x), Token::Key(y)) => x.cmp(y),
        (Token::Begin(x) | Token::Scalar(x), Token::Begin(y) | Token::Scalar(y)) => {
            let kinds = rank(x.kind()).cmp(&rank(y.kind()));
            if kinds != Ordering::Equal {
                return Ok(kinds);
            }
            match x.kind() {
                Kind::Null => Ordering::Equal,
                Kind::Bool => x.boolean().cmp(&y.boolean()),
                Kind::String => x.string_bytes().cmp(y.string_bytes()),
                Kind::Number => {
                    if x.number_text()? == y.number_text()? {
                        Ordering::Equal
                    } else {
                        x.numeric()?.cmp(&y.numeric()?)
                    }
                }
                Kind::Array | Kind::Object => x.len().cmp(&y.len()),
            }
        }
        _ => return Err(JsonbError::corrupt("walks of equal values diverge")),
    })
}
