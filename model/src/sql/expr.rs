//! Scalar expressions: literals, column references, arithmetic, comparison, boolean logic,
//! IS [NOT] NULL, IN, BETWEEN, CAST and `nextval`, evaluated over one row with SQL's
//! three-valued logic, plus the type rules that tie values to column types.
//!
//! Evaluation is synchronous and pure except for `nextval`, which goes through the
//! [`NextVal`] callback (sequences are loaded before evaluation). Nothing here panics on
//! any input: overflow, division by zero and type mismatches are errors.

use super::error::SqlError;
use super::names;
use crate::catalog::ColumnType;
use crate::datum::Datum;
use sqlparser::ast::{BinaryOperator, CastKind, DataType, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, UnaryOperator, Value};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// Supplies `nextval` results during evaluation.
pub(crate) trait NextVal {
    /// The next value of the sequence named (unresolved) `name`.
    fn nextval(&mut self, name: &[String]) -> Result<i64, SqlError>;
}

/// For contexts where `nextval` is not allowed.
pub(crate) struct NoSequences;

impl NextVal for NoSequences {
    fn nextval(&mut self, _name: &[String]) -> Result<i64, SqlError> {
        Err(SqlError::Unsupported("nextval in this context".into()))
    }
}

/// The values of a statement's uncorrelated `IN (SELECT …)` subqueries, keyed by the
/// subquery's SQL text: evaluation is synchronous, so the statement reads them (at its own
/// timestamp) before it evaluates any row, and each runs once however many rows it filters.
pub(crate) type Subqueries = BTreeMap<String, Vec<Datum>>;

/// For expressions with no subquery read beforehand: one met is an error, never a guess.
pub(crate) static NO_SUBQUERIES: Subqueries = BTreeMap::new();

/// The columns visible to an expression, the current row's values, and the subqueries' values.
pub(crate) struct Scope<'a> {
    pub names: &'a [String],
    pub row: &'a [Datum],
    pub subqueries: &'a Subqueries,
}

impl<'a> Scope<'a> {
    pub const EMPTY: Scope<'static> = Scope { names: &[], row: &[], subqueries: &NO_SUBQUERIES };

    /// A row's scope, where no subquery was read.
    pub fn row(names: &'a [String], row: &'a [Datum]) -> Scope<'a> {
        Scope { names, row, subqueries: &NO_SUBQUERIES }
    }

    fn lookup(&self, name: &str) -> Result<Datum, SqlError> {
        match self.names.iter().position(|n| n == name) {
            Some(p) => Ok(self.row.get(p).cloned().unwrap_or(Datum::Null)),
            None => Err(SqlError::UndefinedColumn(name.to_string())),
        }
    }
}

/// The SQL type name of a value, as CockroachDB prints it in errors.
pub(crate) fn type_name(d: &Datum) -> &'static str {
    match d {
        Datum::Null => "unknown",
        Datum::Bool(_) => "bool",
        Datum::Int(_) => "int",
        Datum::Float(_) => "float",
        Datum::String(_) => "string",
        Datum::Bytes(_) => "bytes",
    }
}

/// Maps a declared type to a column type; the flag says it is SERIAL (a `unique_rowid()`
/// default).
pub(crate) fn column_type(dt: &DataType) -> Result<(ColumnType, bool), SqlError> {
    use DataType as D;
    Ok(match dt {
        D::Int(_) | D::Integer(_) | D::Int2(_) | D::Int4(_) | D::Int8(_) | D::Int16 | D::Int32 | D::Int64 | D::BigInt(_) | D::SmallInt(_) => {
            (ColumnType::Int, false)
        }
        D::Float(_) | D::Float4 | D::Float8 | D::Float32 | D::Float64 | D::Real | D::Double(_) | D::DoublePrecision => (ColumnType::Float, false),
        D::Bool | D::Boolean => (ColumnType::Bool, false),
        D::String(_) | D::Text | D::Varchar(_) | D::CharVarying(_) | D::Char(_) | D::Character(_) => (ColumnType::String, false),
        D::Bytes(_) | D::Bytea | D::Blob(_) | D::Varbinary(_) => (ColumnType::Bytes, false),
        D::Custom(name, mods) if mods.is_empty() => match name.to_string().to_ascii_uppercase().as_str() {
            "SERIAL" | "SERIAL4" | "SERIAL8" | "BIGSERIAL" | "SMALLSERIAL" | "SERIAL2" => (ColumnType::Int, true),
            "STRING" => (ColumnType::String, false),
            "BYTES" => (ColumnType::Bytes, false),
            other => return Err(SqlError::Unsupported(format!("type {other}"))),
        },
        other => return Err(SqlError::Unsupported(format!("type {other}"))),
    })
}

/// Checks (and where SQL allows, converts) a value for a column: INT into FLOAT, a string into
/// BYTES. NULL passes; nullability is checked separately.
pub(crate) fn coerce(d: Datum, ty: ColumnType, column: &str) -> Result<Datum, SqlError> {
    match (ty, d) {
        (_, Datum::Null) => Ok(Datum::Null),
        (ColumnType::Float, Datum::Int(i)) => Ok(Datum::Float(i as f64)),
        (ColumnType::Bytes, Datum::String(s)) => Ok(Datum::Bytes(s.into_bytes())),
        (ty, d) if ty.admits(&d) => Ok(d),
        (ty, d) => Err(SqlError::Type(format!("value type {} doesn't match type {} of column \"{}\"", type_name(&d), ty, column))),
    }
}

fn number(s: &str) -> Result<Datum, SqlError> {
    if s.strip_prefix('-').unwrap_or(s).bytes().all(|b| b.is_ascii_digit()) {
        s.parse::<i64>().map(Datum::Int).map_err(|_| SqlError::Invalid(format!("integer out of range: {s}")))
    } else {
        s.parse::<f64>().map(Datum::Float).map_err(|_| SqlError::Invalid(format!("could not parse number {s}")))
    }
}

fn hex(s: &str) -> Result<Vec<u8>, SqlError> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return Err(SqlError::Invalid(format!("invalid hexadecimal bytes literal x'{s}'")));
    }
    let digit = |c: u8| -> Result<u8, SqlError> {
        (c as char).to_digit(16).map(|d| d as u8).ok_or_else(|| SqlError::Invalid(format!("invalid hexadecimal bytes literal x'{s}'")))
    };
    b.chunks(2).map(|p| Ok(digit(p[0])? << 4 | digit(p[1])?)).collect()
}

/// A literal's value.
pub(crate) fn literal(v: &Value) -> Result<Datum, SqlError> {
    Ok(match v {
        Value::Number(s, _) => number(s)?,
        Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) | Value::NationalStringLiteral(s) | Value::UnicodeStringLiteral(s) => {
            Datum::String(s.clone())
        }
        Value::DollarQuotedString(s) => Datum::String(s.value.clone()),
        Value::SingleQuotedByteStringLiteral(s) | Value::DoubleQuotedByteStringLiteral(s) => Datum::Bytes(s.as_bytes().to_vec()),
        Value::HexStringLiteral(s) => Datum::Bytes(hex(s)?),
        Value::Boolean(b) => Datum::Bool(*b),
        Value::Null => Datum::Null,
        other => return Err(SqlError::Unsupported(format!("literal {other}"))),
    })
}

/// A column reference's (last) name part, if the expression is one.
pub(crate) fn column_ref(e: &Expr) -> Option<String> {
    match e {
        Expr::Identifier(i) => Some(names::ident(i)),
        Expr::CompoundIdentifier(parts) => parts.last().map(names::ident),
        _ => None,
    }
}

/// If `e` is a call of function `name` (case-insensitive), its plain argument expressions.
pub(crate) fn call_args<'e>(e: &'e Expr, name: &str) -> Option<Vec<&'e FunctionArgExpr>> {
    let Expr::Function(f) = e else { return None };
    if !f.name.to_string().eq_ignore_ascii_case(name) {
        return None;
    }
    match &f.args {
        FunctionArguments::List(l) => Some(
            l.args
                .iter()
                .map(|a| match a {
                    FunctionArg::Unnamed(x) | FunctionArg::Named { arg: x, .. } | FunctionArg::ExprNamed { arg: x, .. } => x,
                })
                .collect(),
        ),
        FunctionArguments::None => Some(Vec::new()),
        FunctionArguments::Subquery(_) => None,
    }
}

/// The sequence name of a `nextval('name')` call.
pub(crate) fn nextval_arg(e: &Expr) -> Option<Result<Vec<String>, SqlError>> {
    let args = call_args(e, "nextval")?;
    Some(match args.as_slice() {
        [FunctionArgExpr::Expr(Expr::Value(v))] => match &v.value {
            Value::SingleQuotedString(s) => Ok(names::from_string(s)),
            _ => Err(SqlError::Type("nextval expects the sequence name as a string".into())),
        },
        _ => Err(SqlError::Type("nextval expects exactly one argument, the sequence name".into())),
    })
}

/// Every sequence name used by `nextval` in `e`.
pub(crate) fn nextval_names(e: &Expr, out: &mut Vec<Vec<String>>) -> Result<(), SqlError> {
    if let Some(n) = nextval_arg(e) {
        out.push(n?);
        return Ok(());
    }
    match e {
        Expr::BinaryOp { left, right, .. } => {
            nextval_names(left, out)?;
            nextval_names(right, out)
        }
        // A subquery runs with no sequences (it only reads): its own `nextval` is refused there.
        Expr::UnaryOp { expr, .. }
        | Expr::Nested(expr)
        | Expr::IsNull(expr)
        | Expr::IsNotNull(expr)
        | Expr::Cast { expr, .. }
        | Expr::InSubquery { expr, .. } => nextval_names(expr, out),
        Expr::InList { expr, list, .. } => {
            nextval_names(expr, out)?;
            list.iter().try_for_each(|x| nextval_names(x, out))
        }
        Expr::Between { expr, low, high, .. } => {
            nextval_names(expr, out)?;
            nextval_names(low, out)?;
            nextval_names(high, out)
        }
        _ => Ok(()),
    }
}

fn bool_arg(d: Datum, op: &str) -> Result<Option<bool>, SqlError> {
    match d {
        Datum::Bool(b) => Ok(Some(b)),
        Datum::Null => Ok(None),
        other => Err(SqlError::Type(format!("argument of {op} must be type bool, not type {}", type_name(&other)))),
    }
}

/// Compares two non-NULL values of comparable types.
pub(crate) fn compare(a: &Datum, b: &Datum, op: &str) -> Result<Ordering, SqlError> {
    match (a, b) {
        (Datum::Int(x), Datum::Float(y)) => Ok((*x as f64).total_cmp(y)),
        (Datum::Float(x), Datum::Int(y)) => Ok(x.total_cmp(&(*y as f64))),
        _ if std::mem::discriminant(a) == std::mem::discriminant(b) => Ok(a.cmp(b)),
        _ => Err(SqlError::Type(format!("unsupported comparison operator: <{}> {op} <{}>", type_name(a), type_name(b)))),
    }
}

fn arith(op: &BinaryOperator, a: Datum, b: Datum) -> Result<Datum, SqlError> {
    use BinaryOperator as B;
    let overflow = || SqlError::Invalid("integer out of range".into());
    let sym = op.to_string();
    match (a, b) {
        (Datum::Null, _) | (_, Datum::Null) => Ok(Datum::Null),
        (Datum::Int(x), Datum::Int(y)) => match op {
            B::Plus => x.checked_add(y).map(Datum::Int).ok_or_else(overflow),
            B::Minus => x.checked_sub(y).map(Datum::Int).ok_or_else(overflow),
            B::Multiply => x.checked_mul(y).map(Datum::Int).ok_or_else(overflow),
            B::Divide | B::Modulo if y == 0 => Err(SqlError::Invalid("division by zero".into())),
            B::Divide => x.checked_div(y).map(Datum::Int).ok_or_else(overflow),
            B::Modulo => x.checked_rem(y).map(Datum::Int).ok_or_else(overflow),
            _ => Err(SqlError::Unsupported(format!("operator {sym}"))),
        },
        (x @ (Datum::Int(_) | Datum::Float(_)), y @ (Datum::Int(_) | Datum::Float(_))) => {
            let f = |d: Datum| match d {
                Datum::Int(i) => i as f64,
                Datum::Float(f) => f,
                _ => 0.0,
            };
            let (x, y) = (f(x), f(y));
            match op {
                B::Plus => Ok(Datum::Float(x + y)),
                B::Minus => Ok(Datum::Float(x - y)),
                B::Multiply => Ok(Datum::Float(x * y)),
                B::Divide | B::Modulo if y == 0.0 => Err(SqlError::Invalid("division by zero".into())),
                B::Divide => Ok(Datum::Float(x / y)),
                B::Modulo => Ok(Datum::Float(x % y)),
                _ => Err(SqlError::Unsupported(format!("operator {sym}"))),
            }
        }
        (Datum::String(x), Datum::String(y)) if *op == B::StringConcat => Ok(Datum::String(x + &y)),
        (Datum::Bytes(mut x), Datum::Bytes(y)) if *op == B::StringConcat => {
            x.extend(y);
            Ok(Datum::Bytes(x))
        }
        (x, y) => Err(SqlError::Type(format!("unsupported binary operator: <{}> {sym} <{}>", type_name(&x), type_name(&y)))),
    }
}

fn cast(d: Datum, ty: ColumnType) -> Result<Datum, SqlError> {
    let bad = |d: &Datum| SqlError::Type(format!("invalid cast: {} -> {ty}", type_name(d)));
    Ok(match (ty, d) {
        (_, Datum::Null) => Datum::Null,
        (ColumnType::Int, Datum::Int(i)) => Datum::Int(i),
        (ColumnType::Int, Datum::Float(f)) => {
            let r = f.round();
            if !r.is_finite() || r < i64::MIN as f64 || r >= i64::MAX as f64 {
                return Err(SqlError::Invalid("integer out of range".into()));
            }
            Datum::Int(r as i64)
        }
        (ColumnType::Int, Datum::Bool(b)) => Datum::Int(b as i64),
        (ColumnType::Int, Datum::String(s)) => Datum::Int(s.trim().parse().map_err(|_| SqlError::Invalid(format!("could not parse \"{s}\" as type int")))?),
        (ColumnType::Float, Datum::Int(i)) => Datum::Float(i as f64),
        (ColumnType::Float, Datum::Float(f)) => Datum::Float(f),
        (ColumnType::Float, Datum::String(s)) => {
            Datum::Float(s.trim().parse().map_err(|_| SqlError::Invalid(format!("could not parse \"{s}\" as type float")))?)
        }
        (ColumnType::Bool, Datum::Bool(b)) => Datum::Bool(b),
        (ColumnType::Bool, Datum::Int(i)) => Datum::Bool(i != 0),
        (ColumnType::Bool, Datum::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "on" | "1" => Datum::Bool(true),
            "false" | "f" | "no" | "off" | "0" => Datum::Bool(false),
            _ => return Err(SqlError::Invalid(format!("could not parse \"{s}\" as type bool"))),
        },
        (ColumnType::String, Datum::String(s)) => Datum::String(s),
        (ColumnType::String, Datum::Bytes(b)) => {
            Datum::String(String::from_utf8(b).map_err(|_| SqlError::Invalid("invalid UTF-8 in bytes cast to string".into()))?)
        }
        (ColumnType::String, Datum::Int(i)) => Datum::String(i.to_string()),
        (ColumnType::String, Datum::Float(f)) => Datum::String(f.to_string()),
        (ColumnType::String, Datum::Bool(b)) => Datum::String(b.to_string()),
        (ColumnType::Bytes, Datum::Bytes(b)) => Datum::Bytes(b),
        (ColumnType::Bytes, Datum::String(s)) => Datum::Bytes(s.into_bytes()),
        (_, d) => return Err(bad(&d)),
    })
}

/// Evaluates `e` over one row.
pub(crate) fn eval(e: &Expr, scope: &Scope<'_>, seqs: &mut dyn NextVal) -> Result<Datum, SqlError> {
    use BinaryOperator as B;
    match e {
        Expr::Value(v) => literal(&v.value),
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => scope.lookup(&column_ref(e).unwrap_or_default()),
        Expr::Nested(x) => eval(x, scope, seqs),
        Expr::IsNull(x) => Ok(Datum::Bool(eval(x, scope, seqs)?.is_null())),
        Expr::IsNotNull(x) => Ok(Datum::Bool(!eval(x, scope, seqs)?.is_null())),
        Expr::UnaryOp { op, expr } => {
            // `-9223372036854775808` must not overflow on the way through the positive literal.
            if let (UnaryOperator::Minus, Expr::Value(v)) = (op, expr.as_ref()) {
                if let Value::Number(s, _) = &v.value {
                    return number(&format!("-{s}"));
                }
            }
            let d = eval(expr, scope, seqs)?;
            match (op, d) {
                (_, Datum::Null) => Ok(Datum::Null),
                (UnaryOperator::Not, d) => Ok(bool_arg(d, "NOT")?.map(|b| Datum::Bool(!b)).unwrap_or(Datum::Null)),
                (UnaryOperator::Minus, Datum::Int(i)) => i.checked_neg().map(Datum::Int).ok_or_else(|| SqlError::Invalid("integer out of range".into())),
                (UnaryOperator::Minus, Datum::Float(f)) => Ok(Datum::Float(-f)),
                (UnaryOperator::Plus, d @ (Datum::Int(_) | Datum::Float(_))) => Ok(d),
                (op, d) => Err(SqlError::Type(format!("unsupported unary operator: {op} <{}>", type_name(&d)))),
            }
        }
        Expr::BinaryOp { left, op, right } => {
            let l = eval(left, scope, seqs)?;
            match op {
                B::And | B::Or => {
                    let name = if *op == B::And { "AND" } else { "OR" };
                    let a = bool_arg(l, name)?;
                    let b = bool_arg(eval(right, scope, seqs)?, name)?;
                    let r = if *op == B::And {
                        match (a, b) {
                            (Some(false), _) | (_, Some(false)) => Some(false),
                            (Some(true), Some(true)) => Some(true),
                            _ => None,
                        }
                    } else {
                        match (a, b) {
                            (Some(true), _) | (_, Some(true)) => Some(true),
                            (Some(false), Some(false)) => Some(false),
                            _ => None,
                        }
                    };
                    Ok(r.map(Datum::Bool).unwrap_or(Datum::Null))
                }
                B::Eq | B::NotEq | B::Lt | B::LtEq | B::Gt | B::GtEq => {
                    let r = eval(right, scope, seqs)?;
                    if l.is_null() || r.is_null() {
                        return Ok(Datum::Null);
                    }
                    let ord = compare(&l, &r, &op.to_string())?;
                    Ok(Datum::Bool(match op {
                        B::Eq => ord == Ordering::Equal,
                        B::NotEq => ord != Ordering::Equal,
                        B::Lt => ord == Ordering::Less,
                        B::LtEq => ord != Ordering::Greater,
                        B::Gt => ord == Ordering::Greater,
                        _ => ord != Ordering::Less,
                    }))
                }
                B::Plus | B::Minus | B::Multiply | B::Divide | B::Modulo | B::StringConcat => arith(op, l, eval(right, scope, seqs)?),
                other => Err(SqlError::Unsupported(format!("operator {other}"))),
            }
        }
        Expr::InList { expr, list, negated } => {
            let x = eval(expr, scope, seqs)?;
            if x.is_null() {
                return Ok(Datum::Null);
            }
            let items = list.iter().map(|item| eval(item, scope, seqs)).collect::<Result<Vec<_>, _>>()?;
            membership(&x, &items, *negated)
        }
        Expr::InSubquery { expr, subquery, negated } => {
            let Some(items) = scope.subqueries.get(&subquery.to_string()) else {
                return Err(SqlError::Unsupported(format!("subquery ({subquery}) here")));
            };
            let x = eval(expr, scope, seqs)?;
            if x.is_null() {
                return Ok(Datum::Null);
            }
            membership(&x, items, *negated)
        }
        Expr::Between { expr, negated, low, high } => {
            let x = eval(expr, scope, seqs)?;
            let lo = eval(low, scope, seqs)?;
            let hi = eval(high, scope, seqs)?;
            if x.is_null() || lo.is_null() || hi.is_null() {
                return Ok(Datum::Null);
            }
            let inside = compare(&x, &lo, "BETWEEN")? != Ordering::Less && compare(&x, &hi, "BETWEEN")? != Ordering::Greater;
            Ok(Datum::Bool(inside != *negated))
        }
        Expr::Cast { kind: CastKind::Cast | CastKind::DoubleColon, expr, data_type, format: None } => {
            let (ty, _) = column_type(data_type)?;
            cast(eval(expr, scope, seqs)?, ty)
        }
        Expr::Function(_) => match nextval_arg(e) {
            Some(name) => Ok(Datum::Int(seqs.nextval(&name?)?)),
            None => Err(SqlError::Unsupported(format!("function call {e}"))),
        },
        other => Err(SqlError::Unsupported(format!("expression {other}"))),
    }
}

/// `x [NOT] IN items` for a non-NULL `x`, with SQL's three-valued logic: NULL when `x` is not
/// found but some item is NULL.
fn membership(x: &Datum, items: &[Datum], negated: bool) -> Result<Datum, SqlError> {
    let mut saw_null = false;
    for y in items {
        if y.is_null() {
            saw_null = true;
        } else if compare(x, y, "IN")? == Ordering::Equal {
            return Ok(Datum::Bool(!negated));
        }
    }
    Ok(if saw_null { Datum::Null } else { Datum::Bool(negated) })
}

/// Evaluates a WHERE clause: true keeps the row; NULL and false drop it.
pub(crate) fn predicate(e: &Expr, scope: &Scope<'_>, seqs: &mut dyn NextVal) -> Result<bool, SqlError> {
    match eval(e, scope, seqs)? {
        Datum::Bool(b) => Ok(b),
        Datum::Null => Ok(false),
        other => Err(SqlError::Type(format!("argument of WHERE must be type bool, not type {}", type_name(&other)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::parser::Parser;

    fn ev(sql: &str) -> Result<Datum, SqlError> {
        let e = Parser::new(&super::super::prepass::DIALECT).try_with_sql(sql).unwrap().parse_expr().unwrap();
        let names = vec!["a".to_string(), "b".to_string()];
        let row = vec![Datum::Int(7), Datum::Null];
        eval(&e, &Scope::row(&names, &row), &mut NoSequences)
    }

    #[test]
    fn arithmetic_logic_and_nulls() {
        assert_eq!(ev("a * 2 + 1").unwrap(), Datum::Int(15));
        assert_eq!(ev("a / 2").unwrap(), Datum::Int(3));
        assert_eq!(ev("a + 0.5").unwrap(), Datum::Float(7.5));
        assert_eq!(ev("b + 1").unwrap(), Datum::Null);
        assert_eq!(ev("b IS NULL AND a > 3").unwrap(), Datum::Bool(true));
        assert_eq!(ev("b = 1 OR a = 7").unwrap(), Datum::Bool(true));
        assert_eq!(ev("b = 1 AND a = 7").unwrap(), Datum::Null);
        assert_eq!(ev("a IN (1, 7)").unwrap(), Datum::Bool(true));
        assert_eq!(ev("a BETWEEN 1 AND 5").unwrap(), Datum::Bool(false));
        assert_eq!(ev("CAST(a AS STRING)").unwrap(), Datum::String("7".into()));
        assert_eq!(ev("'x' || 'y'").unwrap(), Datum::String("xy".into()));
        assert_eq!(ev("x'0aff'").unwrap(), Datum::Bytes(vec![10, 255]));
        assert_eq!(ev("-9223372036854775808").unwrap(), Datum::Int(i64::MIN));
    }

    #[test]
    fn errors_not_panics() {
        assert!(matches!(ev("a / 0"), Err(SqlError::Invalid(_))));
        assert!(matches!(ev("9223372036854775807 + a"), Err(SqlError::Invalid(_))));
        assert!(matches!(ev("a = 'x'"), Err(SqlError::Type(_))));
        assert!(matches!(ev("a AND true"), Err(SqlError::Type(_))));
        assert!(matches!(ev("c"), Err(SqlError::UndefinedColumn(_))));
        assert!(matches!(ev("nextval('s')"), Err(SqlError::Unsupported(_))));
        assert!(matches!(ev("lower('x')"), Err(SqlError::Unsupported(_))));
    }
}
