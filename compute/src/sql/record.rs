//! Row values in expressions: `ROW(a, b)` and `(a, b)` constructors,
//! whole-row references (`SELECT t FROM t`), field selection
//! (`(r).field`) and row comparisons, bound as PostgreSQL's parser binds
//! them (`transformRowExpr`, `transformWholeRowRef`, `ParseFuncOrColumn`'s
//! field selection, `make_row_comparison_op`).
//!
//! The values are anonymous records ([`crate::datum::record`]); this module
//! is the binder's side of them, kept out of `expr` because each piece has
//! PostgreSQL semantics of its own:
//!
//! * Comparing two row *constructors* compares field by field with SQL's
//!   NULL logic (`(1, NULL) = (1, NULL)` is NULL), and so does a row
//!   constructor against a subquery's rows (`(a, b) IN (SELECT x, y ...)`).
//!   Comparing record *values* (`r1 = r2` of two record columns) is
//!   `record_eq`/`record_cmp`: NULL fields equal each other and sort after
//!   values, as [`crate::datum::Datum::cmp_same_type`] orders them.
//! * A whole-row reference is a row constructor of the table's columns.

use std::cmp::Ordering;

use sqlparser::ast::BinaryOperator;

use crate::datum::{DataType, Datum, RecordField, RecordType};
use crate::sql::error::{code, SqlError};
use crate::sql::expr::{compare, BinOp, BindCtx, Expr, Scope, SubKind, SubPlan};

/// `ROW(items...)`: a record with fields `f1`, `f2`, ...
pub fn row(items: Vec<Expr>) -> Result<Expr, SqlError> {
    let types: Vec<DataType> = items.iter().map(Expr::ty).collect();
    let ty = RecordType::anonymous(&types).map_err(too_many)?;
    Ok(Expr::Row(items, ty))
}

fn too_many(e: crate::datum::record::TooManyRecordTypes) -> SqlError {
    SqlError::new(code::PROGRAM_LIMIT_EXCEEDED, e.to_string())
}

/// Whether `table` names a FROM item of this query or an enclosing one.
pub fn names_from_item(table: &str, scope: &Scope, ctx: &BindCtx<'_>) -> bool {
    let has = |s: &Scope| s.columns.iter().any(|c| c.table.as_deref() == Some(table));
    has(scope) || ctx.outer.iter().any(|(s, _, _)| has(s))
}

/// A whole-row reference to the FROM item `table` of this query or an
/// enclosing one: a record of its columns, named as they are. `None` when
/// no FROM item has that name.
pub fn whole_row(
    table: &str,
    scope: &Scope,
    ctx: &mut BindCtx<'_>,
) -> Result<Option<Expr>, SqlError> {
    let columns = |s: &Scope| -> Vec<(usize, String, DataType)> {
        s.columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.table.as_deref() == Some(table))
            .map(|(i, c)| (i, c.name.clone(), c.ty))
            .collect()
    };
    let mut found = None;
    let own = columns(scope);
    if !own.is_empty() {
        found = Some((own, 0));
    } else {
        let n = ctx.outer.len();
        for level in (0..n).rev() {
            let cols = columns(&ctx.outer[level].0);
            if !cols.is_empty() {
                ctx.outer[level].1 += 1;
                found = Some((cols, n - level));
                break;
            }
        }
    }
    let Some((cols, depth)) = found else {
        return Ok(None);
    };
    let fields = cols
        .iter()
        .map(|(_, name, ty)| RecordField {
            name: name.clone(),
            ty: *ty,
        })
        .collect();
    let ty = RecordType::intern(fields).map_err(too_many)?;
    let items = cols
        .into_iter()
        .map(|(index, _, ty)| match depth {
            0 => Expr::Column(index, ty),
            depth => Expr::Outer { depth, index, ty },
        })
        .collect();
    Ok(Some(Expr::Row(items, ty)))
}

/// `(record).name`. `relation` is the FROM item a whole-row reference
/// named, for PostgreSQL's message about a missing column of it.
pub fn field(record: Expr, name: &str, relation: Option<&str>) -> Result<Expr, SqlError> {
    let DataType::Record(rt) = record.ty() else {
        return Err(SqlError::new(
            code::WRONG_OBJECT_TYPE,
            format!(
                "column notation .{name} applied to type {}, which is not a composite type",
                record.ty().format_type()
            ),
        ));
    };
    let Some((i, ty)) = rt.field(name) else {
        return Err(SqlError::new(
            code::UNDEFINED_COLUMN,
            match relation {
                Some(t) => format!("column {t}.{name} does not exist"),
                None => format!("could not identify column \"{name}\" in record data type"),
            },
        ));
    };
    // A field of a row constructor is the item itself.
    if let Expr::Row(mut items, _) = record {
        return Ok(items.swap_remove(i));
    }
    Ok(Expr::Field(Box::new(record), i, ty))
}

/// PostgreSQL's message for comparing rows of different lengths.
pub const UNEQUAL_ROWS: &str = "unequal number of entries in row expressions";

fn unequal_rows() -> SqlError {
    SqlError::new(code::SYNTAX_ERROR, UNEQUAL_ROWS)
}

/// `ROW(l...) op ROW(r...)` for two row constructors, as PostgreSQL
/// expands it: `=` is the AND of the fields' `=`, `<>` the OR of their
/// `<>`, and an ordering compares left to right, the first pair that is
/// not equal deciding (`(a1 < b1) OR (a1 = b1 AND (a2 < b2 OR ...))`,
/// which is NULL exactly when that pair has a NULL).
pub fn compare_constructors(
    op: &BinaryOperator,
    bop: BinOp,
    l: Vec<Expr>,
    r: Vec<Expr>,
    ctx: &mut BindCtx<'_>,
) -> Result<Expr, SqlError> {
    if l.len() != r.len() {
        return Err(unequal_rows());
    }
    if l.is_empty() {
        return Err(SqlError::unsupported("comparison of zero-column rows"));
    }
    let pairs: Vec<(Expr, Expr)> = l.into_iter().zip(r).collect();
    let bin = |op: &BinaryOperator, a: Expr, b: Expr, ctx: &mut BindCtx<'_>| {
        crate::sql::expr::bind_binary(op, a, b, ctx)
    };
    let and = |a: Expr, b: Expr| Expr::Binary(BinOp::And, Box::new(a), Box::new(b), DataType::Bool);
    let or = |a: Expr, b: Expr| Expr::Binary(BinOp::Or, Box::new(a), Box::new(b), DataType::Bool);
    match bop {
        BinOp::Eq | BinOp::Ne => {
            let mut out: Option<Expr> = None;
            for (a, b) in pairs {
                let c = bin(op, a, b, ctx)?;
                out = Some(match (out, bop) {
                    (None, _) => c,
                    (Some(acc), BinOp::Eq) => and(acc, c),
                    (Some(acc), _) => or(acc, c),
                });
            }
            Ok(out.expect("rows are not empty"))
        }
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
            let strict = match bop {
                BinOp::Lt | BinOp::Le => BinaryOperator::Lt,
                _ => BinaryOperator::Gt,
            };
            // Built from the last pair outwards.
            let mut rev = pairs.into_iter().rev();
            let (a, b) = rev.next().expect("rows are not empty");
            let mut acc = bin(op, a, b, ctx)?;
            for (a, b) in rev {
                let decided = bin(&strict, a.clone(), b.clone(), ctx)?;
                let equal = bin(&BinaryOperator::Eq, a, b, ctx)?;
                acc = or(decided, and(equal, acc));
            }
            Ok(acc)
        }
        _ => Err(SqlError::new(
            code::UNDEFINED_FUNCTION,
            format!("operator {op} is not supported for row expressions"),
        )),
    }
}

/// `(SELECT x, y ...)` on the right of a comparison with a row
/// constructor (PostgreSQL's ROWCOMPARE sublink): a row constructor of
/// the fields of its one row, NULL fields for no rows, 21000 for more.
/// An uncorrelated subquery runs once per statement; a correlated one
/// once per field and row.
pub fn subquery_row(sub: SubPlan) -> Result<Expr, SqlError> {
    let fields: Vec<RecordField> = sub
        .query
        .columns
        .iter()
        .map(|(name, ty)| RecordField {
            name: name.clone(),
            ty: *ty,
        })
        .collect();
    let ty = RecordType::intern(fields).map_err(too_many)?;
    let types: Vec<DataType> = sub.query.columns.iter().map(|(_, t)| *t).collect();
    let value = Expr::Subquery {
        sub: std::sync::Arc::new(sub),
        kind: SubKind::Row(ty),
        offset: 0,
    };
    let items = types
        .into_iter()
        .enumerate()
        .map(|(i, t)| Expr::Field(Box::new(value.clone()), i, t))
        .collect();
    row(items)
}

/// `ROW(..) [NOT] IN ((..), ...)`: the OR of the rows' `=`, as PostgreSQL
/// expands it.
pub fn in_list(
    l: Expr,
    list: &[sqlparser::ast::Expr],
    negated: bool,
    scope: &Scope,
    ctx: &mut BindCtx<'_>,
) -> Result<Expr, SqlError> {
    let Expr::Row(li, _) = l else {
        return Err(SqlError::new(
            code::INTERNAL_ERROR,
            "IN list of a row without one",
        ));
    };
    let mut any: Option<Expr> = None;
    for x in list {
        let Expr::Row(ri, _) = crate::sql::expr::bind(x, scope, ctx)? else {
            return Err(SqlError::unsupported("IN list of a row and a non-row"));
        };
        let eq = compare_constructors(&BinaryOperator::Eq, BinOp::Eq, li.clone(), ri, ctx)?;
        any = Some(match any {
            None => eq,
            Some(acc) => Expr::Binary(BinOp::Or, Box::new(acc), Box::new(eq), DataType::Bool),
        });
    }
    let any = any.ok_or_else(|| SqlError::new(code::SYNTAX_ERROR, "empty IN list"))?;
    Ok(if negated {
        Expr::Not(Box::new(any))
    } else {
        any
    })
}

/// `ROW(l...) op (subquery row r...)` as PostgreSQL compares a row
/// constructor with a subquery's row: field by field with SQL's NULL
/// logic (`None` for NULL), as [`compare_constructors`] expands it.
pub fn compare_fields(op: BinOp, l: &[Datum], r: &[Datum]) -> Result<Option<bool>, SqlError> {
    if l.len() != r.len() {
        return Err(unequal_rows());
    }
    let pair = |a: &Datum, b: &Datum| -> Result<Option<Ordering>, SqlError> {
        if a.is_null() || b.is_null() {
            Ok(None)
        } else {
            compare(a, b).map(Some)
        }
    };
    match op {
        BinOp::Eq | BinOp::Ne => {
            let mut saw_null = false;
            for (a, b) in l.iter().zip(r) {
                match pair(a, b)? {
                    None => saw_null = true,
                    Some(Ordering::Equal) => {}
                    Some(_) => return Ok(Some(op == BinOp::Ne)),
                }
            }
            Ok(if saw_null {
                None
            } else {
                Some(op == BinOp::Eq)
            })
        }
        _ => {
            for (a, b) in l.iter().zip(r) {
                match pair(a, b)? {
                    None => return Ok(None),
                    Some(Ordering::Equal) => {}
                    Some(o) => {
                        return Ok(Some(match op {
                            BinOp::Lt | BinOp::Le => o == Ordering::Less,
                            _ => o == Ordering::Greater,
                        }))
                    }
                }
            }
            Ok(Some(matches!(op, BinOp::Le | BinOp::Ge)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn i(v: i32) -> Datum {
        Datum::Int4(v)
    }

    #[test]
    fn constructor_comparisons_follow_sql_null_logic() {
        // Each checked against PostgreSQL 15.
        let null = Datum::Null;
        let cases = [
            (BinOp::Eq, vec![i(1), i(2)], vec![i(1), i(2)], Some(true)),
            (
                BinOp::Eq,
                vec![i(1), null.clone()],
                vec![i(1), null.clone()],
                None,
            ),
            (
                BinOp::Eq,
                vec![i(1), null.clone()],
                vec![i(2), null.clone()],
                Some(false),
            ),
            (
                BinOp::Ne,
                vec![i(1), null.clone()],
                vec![i(2), null.clone()],
                Some(true),
            ),
            (BinOp::Ne, vec![i(1), null.clone()], vec![i(1), i(3)], None),
            (
                BinOp::Lt,
                vec![i(1), i(2)],
                vec![i(2), null.clone()],
                Some(true),
            ),
            (BinOp::Lt, vec![i(1), null.clone()], vec![i(1), i(5)], None),
            (BinOp::Lt, vec![i(1), i(2)], vec![i(1), i(2)], Some(false)),
            (BinOp::Le, vec![i(1), i(2)], vec![i(1), i(2)], Some(true)),
            (BinOp::Gt, vec![i(3), i(0)], vec![i(2), i(9)], Some(true)),
            (BinOp::Ge, vec![i(2), i(8)], vec![i(2), i(9)], Some(false)),
        ];
        for (op, l, r, want) in cases {
            assert_eq!(
                compare_fields(op, &l, &r).unwrap(),
                want,
                "{l:?} {op:?} {r:?}"
            );
        }
        let err = compare_fields(BinOp::Eq, &[i(1)], &[i(1), i(2)]).unwrap_err();
        assert_eq!(err.code, code::SYNTAX_ERROR);
    }

    #[test]
    fn field_selection_resolves_by_name() {
        let r = row(vec![
            Expr::Column(0, DataType::Int4),
            Expr::Column(1, DataType::Text),
        ])
        .unwrap();
        // Selecting from a constructor is the item itself.
        assert!(matches!(
            field(r.clone(), "f2", None).unwrap(),
            Expr::Column(1, DataType::Text)
        ));
        let err = field(r, "y", None).unwrap_err();
        assert_eq!(err.code, code::UNDEFINED_COLUMN);
        assert_eq!(
            err.message,
            "could not identify column \"y\" in record data type"
        );
        let err = field(Expr::Column(0, DataType::Int4), "x", None).unwrap_err();
        assert_eq!(err.code, code::WRONG_OBJECT_TYPE);
        assert_eq!(
            err.message,
            "column notation .x applied to type integer, which is not a composite type"
        );
    }
}
