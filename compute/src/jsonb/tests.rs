//! Tests of the whole module: canonical printing, the operators on small
//! documents, corrupt input, and properties over generated documents. The
//! cases checked against PostgreSQL itself are in `compute/tests/jsonb_pg.rs`.

use std::cmp::Ordering;
use std::hash::BuildHasher;

use proptest::prelude::*;

use super::*;
use crate::datum::Numeric;

fn j(text: &str) -> Jsonb {
    parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn printed(text: &str) -> String {
    j(text).to_string()
}

#[test]
fn printing_is_canonical() {
    let cases = [
        (
            r#"{"b":1,"a":[1,2],"aa":1e2, "c":1.50}"#,
            r#"{"a": [1, 2], "b": 1, "c": 1.50, "aa": 100}"#,
        ),
        (r#"{"a":1,"a":2}"#, r#"{"a": 2}"#),
        (
            r#"[ 1 , -0 , 0.0 , -1.5E-2, 1e0, 1E+2 ]"#,
            "[1, 0, 0.0, -0.015, 1, 100]",
        ),
        (r#"{}"#, "{}"),
        (r#"[]"#, "[]"),
        (r#" "x" "#, r#""x""#),
        ("true", "true"),
        ("null", "null"),
        (r#"{"":{"":[]}}"#, r#"{"": {"": []}}"#),
        (r#""a\u0001\u001fb\/""#, r#""a\u0001\u001fb/""#),
    ];
    for (input, expected) in cases {
        assert_eq!(printed(input), expected, "{input}");
    }
}

#[test]
fn operators_on_small_documents() {
    let doc = j(r#"{"a": {"b": [10, "x", null]}, "n": null, "s": "t"}"#);
    let v = doc.view();
    fn path<'p>(p: &[&'p str]) -> Vec<Option<&'p str>> {
        p.iter().map(|s| Some(*s)).collect()
    }
    assert_eq!(
        v.get("a").unwrap().unwrap().to_text().unwrap(),
        r#"{"b": [10, "x", null]}"#
    );
    assert_eq!(v.get_text("s").unwrap().as_deref(), Some("t"));
    assert_eq!(v.get_text("n").unwrap(), None);
    assert!(v.get("n").unwrap().is_some());
    assert!(v.get("zz").unwrap().is_none());
    assert_eq!(
        v.get_path_text(&path(&["a", "b", "-2"]))
            .unwrap()
            .as_deref(),
        Some("x")
    );
    assert!(v.get_path(&[Some("a"), None]).unwrap().is_none());
    assert!(v.exists("n").unwrap());
    assert!(!v.exists("b").unwrap());
    assert_eq!(v.object_keys().unwrap(), ["a", "n", "s"]);
    assert!(matches!(
        v.array_length(),
        Err(JsonbError::InvalidParameter { .. })
    ));
    let set = v
        .set(&path(&["a", "b", "0"]), &j("[1]").view(), true)
        .unwrap();
    assert_eq!(
        set.to_string(),
        r#"{"a": {"b": [[1], "x", null]}, "n": null, "s": "t"}"#
    );
    let removed = set.view().delete_path(&path(&["a", "b", "1"])).unwrap();
    assert_eq!(
        removed.to_string(),
        r#"{"a": {"b": [[1], null]}, "n": null, "s": "t"}"#
    );
    assert!(v.contains(&j(r#"{"a": {"b": ["x"]}}"#).view()).unwrap());
    assert!(!v.contains(&j(r#"{"a": {"b": "x"}}"#).view()).unwrap());
}

#[test]
fn ordering_follows_postgres() {
    // Ascending, as `ORDER BY` on a jsonb column returns them.
    let ascending = [
        "[]",
        "null",
        r#""""#,
        r#""a""#,
        r#""b""#,
        "-1",
        "1",
        "1.5",
        "false",
        "true",
        "[null]",
        "[1]",
        "[2]",
        "[1, 2]",
        "{}",
        r#"{"b": 1}"#,
        r#"{"a": 1, "b": 1}"#,
        r#"{"a": 2, "b": 1}"#,
    ];
    for pair in ascending.windows(2) {
        assert_eq!(j(pair[0]).cmp(&j(pair[1])), Ordering::Less, "{pair:?}");
    }
    assert_eq!(j("1.0"), j("1"));
    assert_eq!(j(r#"{"a": [1.50]}"#), j(r#"{"a": [1.5]}"#));
    let hasher = std::collections::hash_map::RandomState::new();
    assert_eq!(
        hasher.hash_one(j(r#"{"a": [1.50]}"#)),
        hasher.hash_one(j(r#"{"a": [1.5]}"#))
    );
}

#[test]
fn builders_and_aggregates() {
    let args = [
        Datum::Text("k".into()),
        Datum::Int4(1),
        Datum::Float8(1e20),
        Datum::Numeric("1.50".parse::<Numeric>().unwrap()),
        Datum::Text("k".into()),
        Datum::Null,
    ];
    assert_eq!(
        build_object(&args).unwrap().to_string(),
        r#"{"k": null, "1e+20": 1.50}"#
    );
    assert!(matches!(
        build_object(&args[..3]),
        Err(JsonbError::InvalidParameter { hint: Some(_), .. })
    ));
    assert_eq!(
        build_object(&[Datum::Null, Datum::Int4(1)]),
        Err(JsonbError::NullKey { position: 1 })
    );
    assert_eq!(
        build_array(&[
            Datum::Bool(true),
            Datum::Float4(f32::NAN),
            Datum::Jsonb(j("[1]").into_bytes())
        ])
        .unwrap()
        .to_string(),
        r#"[true, "NaN", [1]]"#
    );
    assert_eq!(build_array(&[]).unwrap().to_string(), "[]");
    assert_eq!(
        to_jsonb(&Datum::TimestampTz(8767 * 86_400_000_000 + 3_723_000_000))
            .unwrap()
            .to_string(),
        r#""2024-01-02T01:02:03+00:00""#
    );
    assert_eq!(
        to_jsonb(&Datum::Text("a\0b".into())),
        Err(JsonbError::NulCharacter)
    );

    let mut agg = ArrayAgg::new();
    assert!(ArrayAgg::new().finish().is_none());
    agg.push(&Datum::Int4(1)).unwrap();
    assert!(agg.push(&Datum::Json("[".into())).is_err());
    agg.push(&Datum::Null).unwrap();
    agg.push(&Datum::Json(r#"{"b":1,"a":2}"#.into())).unwrap();
    assert_eq!(
        agg.finish().unwrap().to_string(),
        r#"[1, null, {"a": 2, "b": 1}]"#
    );

    let mut agg = ObjectAgg::new();
    assert!(ObjectAgg::new().finish().unwrap().is_none());
    agg.push(&Datum::Text("b".into()), &Datum::Int4(1)).unwrap();
    agg.push(&Datum::Text("a".into()), &Datum::Int4(2)).unwrap();
    assert_eq!(
        agg.push(&Datum::Null, &Datum::Int4(3)),
        Err(JsonbError::NullFieldName)
    );
    agg.push(&Datum::Text("b".into()), &Datum::Int4(3)).unwrap();
    agg.push(&Datum::Text("ccc".into()), &Datum::Null).unwrap();
    assert_eq!(
        agg.finish().unwrap().unwrap().to_string(),
        r#"{"a": 2, "b": 3, "ccc": null}"#
    );
}

#[test]
fn errors_carry_sqlstates() {
    let e = parse("x").unwrap_err();
    assert_eq!(e.sqlstate(), "22P02");
    assert_eq!(e.to_string(), "invalid input syntax for type json");
    assert_eq!(e.detail().as_deref(), Some("Token \"x\" is invalid."));
    assert_eq!(parse(r#""\u0000""#).unwrap_err().sqlstate(), "22P05");
    assert_eq!(
        j("1").view().array_length().unwrap_err().to_string(),
        "cannot get array length of a scalar"
    );
}

/// Runs `f` on a thread with a small stack, as a server worker might have.
fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(128 << 10)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("no stack overflow");
}

#[test]
fn deepest_documents_fit_in_a_small_stack() {
    on_small_stack(|| {
        let arrays = format!("{}1{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        let objects = format!(
            "{}1{}",
            r#"{"k": [1, "#.repeat(MAX_DEPTH / 2),
            "]}".repeat(MAX_DEPTH / 2)
        );
        for text in [arrays, objects] {
            let doc = j(&text);
            let v = doc.view();
            assert_eq!(doc.to_string(), text);
            assert!(v.contains(&v).unwrap());
            assert_eq!(v.compare(&v).unwrap(), Ordering::Equal);
            let hasher = std::collections::hash_map::RandomState::new();
            hasher.hash_one(&doc);
            Jsonb::from_bytes(doc.as_bytes().to_vec()).unwrap();
            assert_eq!(
                build_array(&[Datum::Jsonb(doc.as_bytes().to_vec())]),
                Err(JsonbError::TooDeep { max: MAX_DEPTH })
            );
            if text.starts_with("[[") {
                let zeros = vec![Some("0"); MAX_DEPTH];
                assert_eq!(v.get_path_text(&zeros).unwrap().as_deref(), Some("1"));
                let set = v.set(&zeros, &j("2").view(), false).unwrap();
                assert_eq!(set.to_string(), text.replace('1', "2"));
                let deleted = v.delete_path(&zeros).unwrap();
                assert_eq!(deleted.to_string(), text.replace('1', ""));
            }
            let both = v.concat(&v).unwrap();
            assert!(both.view().contains(&v).unwrap());
            let wrapped = j("[]").view().set(&[Some("0")], &v, true);
            assert_eq!(wrapped.unwrap_err(), JsonbError::TooDeep { max: MAX_DEPTH });
        }
    });
}

/// A JSON document as a generator builds it, printed as text in a
/// non-canonical way: random key order, duplicates, spacing and number
/// spellings.
#[derive(Clone, Debug)]
enum Tree {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Tree>),
    Object(Vec<(String, Tree)>),
}

impl Tree {
    fn render(&self, out: &mut String, spaced: bool) {
        let sep = if spaced { " , " } else { "," };
        match self {
            Tree::Null => out.push_str("null"),
            Tree::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Tree::Number(n) => out.push_str(n),
            Tree::String(s) => render_string(out, s),
            Tree::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(sep);
                    }
                    item.render(out, spaced);
                }
                out.push(']');
            }
            Tree::Object(pairs) => {
                out.push('{');
                for (i, (key, value)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push_str(sep);
                    }
                    render_string(out, key);
                    out.push_str(if spaced { " :\n" } else { ":" });
                    value.render(out, spaced);
                }
                out.push('}');
            }
        }
    }
}

/// Writes a JSON string, escaping some characters as `\uXXXX` even where
/// that is not needed.
fn render_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 || c == 'é' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)))
            }
            c if u32::from(c) > 0xFFFF => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn arb_number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|v| v.to_string()),
        (-1000i32..1000, 0u32..4)
            .prop_map(|(v, zeros)| format!("{v}.{}", "0".repeat(zeros as usize + 1))),
        (1u32..999, -12i32..12).prop_map(|(m, e)| format!("{m}e{e}")),
        (0u32..100, 0u32..100).prop_map(|(a, b)| format!("-{a}.{b:02}")),
        Just("0".to_owned()),
        Just("-0".to_owned()),
        Just("1E+2".to_owned()),
    ]
}

fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-c]{0,3}",
        "\\PC{0,6}",
        Just("é\u{1F600}\n\t\"\\/".to_owned()),
    ]
    .prop_map(|s: String| s.replace('\0', ""))
}

fn arb_tree() -> impl Strategy<Value = Tree> {
    let leaf = prop_oneof![
        Just(Tree::Null),
        any::<bool>().prop_map(Tree::Bool),
        arb_number().prop_map(Tree::Number),
        arb_string().prop_map(Tree::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Tree::Array),
            prop::collection::vec(("[a-d]{0,2}", inner), 0..6).prop_map(Tree::Object),
        ]
    })
}

fn arb_text() -> impl Strategy<Value = String> {
    (arb_tree(), any::<bool>()).prop_map(|(tree, spaced)| {
        let mut out = String::new();
        tree.render(&mut out, spaced);
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn printing_round_trips_and_is_canonical(text in arb_text()) {
        let doc = j(&text);
        let printed = doc.to_string();
        let reparsed = j(&printed);
        prop_assert_eq!(&reparsed, &doc);
        // The same value prints the same way and encodes to the same bytes.
        prop_assert_eq!(reparsed.as_bytes(), doc.as_bytes());
        prop_assert_eq!(reparsed.to_string(), printed);
        prop_assert!(Jsonb::from_bytes(doc.as_bytes().to_vec()).is_ok());
        let copied = doc.view().to_jsonb().unwrap();
        prop_assert_eq!(copied.as_bytes(), doc.as_bytes());
    }

    /// A document of some members is the object of those members, built
    /// the general way; anything but an object is kept whole.
    #[test]
    fn members_document_is_the_object_of_those_members(
        text in arb_text(),
        keys in prop::collection::vec("[a-d]{0,2}", 0..MEMBERS_MAX),
    ) {
        let doc = j(&text);
        let mut keys: Vec<Box<str>> = keys.into_iter().map(String::into_boxed_str).collect();
        members_order(&mut keys);
        let got = members_document(doc.as_bytes(), &keys).unwrap();
        let root = doc.view();
        if root.kind() != Kind::Object {
            prop_assert!(got.is_none());
            return Ok(());
        }
        let pairs: Vec<_> = keys
            .iter()
            .filter_map(|k| {
                let v = root.lookup(k.as_bytes()).unwrap()?;
                Some((std::borrow::Cow::Borrowed(&**k), super::format::Node::Raw(v)))
            })
            .collect();
        let model = super::format::encode(&super::format::Node::Object(pairs)).unwrap();
        let got = got.expect("an object keeps its members");
        prop_assert_eq!(&got[..], model.as_bytes());
        prop_assert!(Jsonb::from_bytes(got).is_ok());
    }

    #[test]
    fn containment_is_reflexive(text in arb_text()) {
        let doc = j(&text);
        prop_assert!(doc.view().contains(&doc.view()).unwrap());
        prop_assert!(doc.view().contained_by(&doc.view()).unwrap());
    }

    #[test]
    fn ordering_is_consistent_with_equality(a in arb_text(), b in arb_text(), c in arb_text()) {
        let (a, b, c) = (j(&a), j(&b), j(&c));
        let hasher = std::collections::hash_map::RandomState::new();
        for (x, y) in [(&a, &b), (&b, &c), (&a, &c), (&a, &a)] {
            let order = x.cmp(y);
            prop_assert_eq!(y.cmp(x), order.reverse());
            prop_assert_eq!(x == y, order == Ordering::Equal);
            if order == Ordering::Equal {
                prop_assert_eq!(hasher.hash_one(x), hasher.hash_one(y));
                // Equal documents contain each other.
                prop_assert!(x.view().contains(&y.view()).unwrap());
            }
        }
        let mut sorted = [a, b, c];
        sorted.sort();
        prop_assert!(sorted[0] <= sorted[1] && sorted[1] <= sorted[2]);
        prop_assert!(sorted[0] <= sorted[2]);
    }

    #[test]
    fn number_spellings_are_equal_and_hash_alike(
        m in 1i64..10_000,
        negative in any::<bool>(),
        extra in 0usize..4,
        shift in 0u32..4,
    ) {
        // ±m × 10^-shift, also written with extra trailing zeros.
        let sign = if negative { "-" } else { "" };
        let plain = format!("{sign}{m}e-{shift}");
        let padded = format!("{sign}{m}{}e-{}", "0".repeat(extra), shift as usize + extra);
        let (a, b) = (j(&format!("[{plain}]")), j(&format!("[{padded}]")));
        prop_assert_eq!(&a, &b);
        let hasher = std::collections::hash_map::RandomState::new();
        prop_assert_eq!(hasher.hash_one(&a), hasher.hash_one(&b));
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..40), versioned in any::<bool>()) {
        let mut bytes = bytes;
        if versioned {
            bytes.insert(0, FORMAT_V1);
        }
        exercise(&bytes);
    }

    #[test]
    fn mutated_documents_never_panic(text in arb_text(), at in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let mut bytes = j(&text).into_bytes();
        let i = at.index(bytes.len());
        bytes[i] ^= xor;
        exercise(&bytes);
        if let Ok(doc) = Jsonb::from_bytes(bytes.clone()) {
            // Whatever validates is canonical: printing and parsing it back
            // gives the same bytes.
            let reparsed = j(&doc.to_string());
            prop_assert_eq!(reparsed.as_bytes(), &bytes[..]);
        }
    }

    #[test]
    fn garbage_text_never_panics(text in "\\PC{0,24}|[\\[\\]{}:,\"\\\\u0-9a-fe+.-]{0,24}") {
        let _ = parse(&text);
    }
}

/// Runs every read-only operation on possibly corrupt bytes; none may panic.
fn exercise(bytes: &[u8]) {
    let Ok(v) = JsonbRef::from_document(bytes) else {
        return;
    };
    let other = j(r#"{"a": [1, "x"], "b": null}"#);
    let o = other.view();
    let path = [Some("a"), Some("0")];
    let _ = v.to_text();
    let _ = v.validate();
    let _ = v.get("a");
    let _ = v.get_text("b");
    let _ = v.index(0);
    let _ = v.index_text(-1);
    let _ = v.get_path_text(&path);
    let _ = v.exists("a");
    let _ = v.exists_all(&path);
    let _ = v.contains(&o);
    let _ = o.contains(&v);
    let _ = v.compare(&o);
    let _ = v.hash_into(&mut std::collections::hash_map::DefaultHasher::new());
    let _ = v.array_length();
    let _ = v.object_keys();
    let _ = v.each_text();
    let _ = v.array_elements_text();
    let _ = v.concat(&o);
    let _ = v.delete_key("a");
    let _ = v.delete_index(0);
    let _ = v.delete_path(&path);
    let _ = v.set(&path, &o, true);
    let _ = v.insert(&path, &o, false);
    let _ = v.to_jsonb();
    let _ = build_array(&[Datum::Jsonb(bytes.to_vec())]);
}

#[test]
fn records_become_objects_named_by_their_type() {
    use crate::datum::{DataType, Datum, RecordField, RecordType};
    let inner = RecordType::anonymous(&[DataType::Int4]).unwrap();
    let ty = RecordType::intern(vec![
        RecordField {
            name: "id".into(),
            ty: DataType::Int4,
        },
        RecordField {
            name: "r".into(),
            ty: inner,
        },
    ])
    .unwrap();
    let value = Datum::Record(
        vec![
            Datum::Int4(1),
            Datum::Record(vec![Datum::Null].into_boxed_slice()),
        ]
        .into_boxed_slice(),
    );
    // As PostgreSQL's to_jsonb((SELECT s FROM (SELECT 1 id, ROW(NULL::int) r) s)).
    assert_eq!(
        to_jsonb_typed(&value, &ty).unwrap().to_string(),
        r#"{"r": {"f1": null}, "id": 1}"#
    );
    // Without the type, the fields are named as ROW(...) names them.
    assert_eq!(
        to_jsonb(&value).unwrap().to_string(),
        r#"{"f1": 1, "f2": {"f1": null}}"#
    );
    let mut agg = ArrayAgg::new();
    agg.push_typed(&value, &ty).unwrap();
    assert_eq!(
        agg.finish().unwrap().to_string(),
        r#"[{"r": {"f1": null}, "id": 1}]"#
    );
}
