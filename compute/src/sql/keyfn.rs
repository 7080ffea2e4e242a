//! The engine's key function for expression indexes: the stored SQL text of
//! each key part, parsed and bound once per table shape and evaluated on
//! each row.
//!
//! The engine calls it for every row it indexes (at commit, and for
//! uniqueness checks), so parsing the text each time would cost more than
//! the rest of the insert. Bound expressions refer to columns by position,
//! so the cache key is the index plus a fingerprint of everything binding
//! reads: the table's name, its columns' names and types, and the key
//! texts. After ALTER TABLE the fingerprint differs and the expressions are
//! bound again.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock};

use crate::catalog::{IndexDef, IndexKey, ObjectId, TableDef};
use crate::datum::Datum;
use crate::engine::KeyFnError;
use crate::pgtext::TextContext;
use crate::sql::error::SqlError;
use crate::sql::expr::{self, bind, eval, BindCtx, EvalCtx, Expr};
use crate::sql::session::{parse_expr, table_scope};

/// Bound key sets kept; past it the cache starts over (each entry is a few
/// small expression trees, and tables with expression indexes are few).
const CACHED_INDEXES_MAX: usize = 1024;

/// Each key part bound, `None` for a plain column.
type Bound = Arc<Vec<Option<Expr>>>;

fn cache() -> &'static Mutex<HashMap<(ObjectId, u64), Bound>> {
    static CACHE: OnceLock<Mutex<HashMap<(ObjectId, u64), Bound>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// What binding `ix`'s key texts against `t` depends on.
fn fingerprint(t: &TableDef, ix: &IndexDef) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    t.name.hash(&mut h);
    for c in &t.columns {
        (&c.name, c.type_oid, c.type_mod).hash(&mut h);
    }
    for k in &ix.keys {
        match k {
            IndexKey::Column(i) => (0u8, *i).hash(&mut h),
            IndexKey::Expr(sql) => (1u8, sql).hash(&mut h),
        }
    }
    h.finish()
}

fn bound(t: &TableDef, ix: &IndexDef) -> Result<Bound, SqlError> {
    let key = (ix.id, fingerprint(t, ix));
    if let Some(b) = cache().lock().expect("key cache").get(&key) {
        return Ok(b.clone());
    }
    let scope = table_scope(t, None);
    let parts = ix
        .keys
        .iter()
        .map(|k| match k {
            IndexKey::Column(_) => Ok(None),
            IndexKey::Expr(sql) => {
                let e = parse_expr(sql)?;
                let mut params = Vec::new();
                bind(&e, &scope, &mut BindCtx::new(&mut params)).map(Some)
            }
        })
        .collect::<Result<Vec<_>, SqlError>>()?;
    let b = Arc::new(parts);
    let mut c = cache().lock().expect("key cache");
    if c.len() >= CACHED_INDEXES_MAX {
        c.clear();
    }
    c.insert(key, b.clone());
    Ok(b)
}

/// Computes the key values of index `ix` of table `t` for `row`.
/// Errors are the expression's own `SqlError`s, which the engine hands
/// back through `EngineError::KeyFunction`.
pub(super) fn index_key(
    t: &TableDef,
    ix: &IndexDef,
    row: &[Datum],
) -> Result<Vec<Datum>, KeyFnError> {
    let parts = bound(t, ix)?;
    let text = TextContext {
        jsonb: Some(expr::jsonb_hooks()),
        ..TextContext::default()
    };
    let ctx = EvalCtx {
        params: &[],
        outer: &[],
        sub: None,
        catalog: None,
        text: &text,
        now: 0,
        database: "",
        user: "",
    };
    ix.keys
        .iter()
        .zip(parts.iter())
        .map(|(k, b)| match (k, b) {
            (IndexKey::Column(i), _) => Ok(row[*i].clone()),
            (IndexKey::Expr(_), Some(b)) => eval(b, row, &ctx).map_err(KeyFnError::from),
            (IndexKey::Expr(_), None) => unreachable!("expression parts are bound"),
        })
        .collect()
}
