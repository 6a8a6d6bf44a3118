//! The CREATE statement of a relation, as CockroachDB's `SHOW CREATE` prints it (v20.2 layout,
//! without column families): what `SHOW BACKUP SCHEMAS` shows for each table, view and sequence
//! of a backup, read from the backup's own descriptors.
//!
//! Pure text from a [`Catalog`] snapshot: it never reads storage. A reference the catalog cannot
//! resolve (a foreign key to a table that is not in the backup) is left out, as CockroachDB's
//! `OmitMissingFKClausesFromCreate` does; it never panics on a descriptor from outside.

use crate::catalog::{Catalog, Column, ColumnType, DefaultExpr, TableDescriptor, TableKind};

/// Words that must be double-quoted to be read as names (the SQL reserved words a CREATE
/// statement could otherwise trip over).
const RESERVED: [&str; 52] = [
    "all",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "column",
    "constraint",
    "create",
    "default",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "from",
    "grant",
    "group",
    "having",
    "in",
    "index",
    "into",
    "is",
    "join",
    "limit",
    "not",
    "null",
    "offset",
    "on",
    "or",
    "order",
    "primary",
    "references",
    "select",
    "table",
    "then",
    "to",
    "true",
    "union",
    "unique",
    "user",
    "where",
];

/// A name as SQL text: bare when it is a plain lower-case identifier that is not reserved,
/// otherwise double-quoted with `"` doubled.
pub fn quote_ident(name: &str) -> String {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !RESERVED.contains(&name);
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// The CREATE statement of `t`, with names resolved in `catalog` (the catalog `t` comes from:
/// a cluster's, or a backup manifest's).
pub fn create_statement(catalog: &Catalog, t: &TableDescriptor) -> String {
    match &t.kind {
        TableKind::Table => create_table(catalog, t),
        TableKind::View { query, .. } => format!("CREATE VIEW {} AS {query}", quote_ident(&t.name)),
        TableKind::Sequence { start, increment } => {
            // CockroachDB's defaults for the bounds, which the model does not store.
            let (min, max) = if *increment > 0 { (1, i64::MAX) } else { (i64::MIN, -1) };
            format!("CREATE SEQUENCE {} MINVALUE {min} MAXVALUE {max} INCREMENT {increment} START {start}", quote_ident(&t.name))
        }
    }
}

/// `name` of the relation with descriptor id `id`, qualified with its database when that is
/// not `t`'s; `None` when the catalog does not hold it.
fn relation_name(catalog: &Catalog, t: &TableDescriptor, id: u32) -> Option<String> {
    let other = catalog.table(id)?;
    if other.parent_id == t.parent_id {
        return Some(quote_ident(&other.name));
    }
    let db = catalog.database(other.parent_id)?;
    Some(format!("{}.public.{}", quote_ident(&db.name), quote_ident(&other.name)))
}

fn column_names(t: &TableDescriptor, ids: &[u32]) -> Vec<String> {
    ids.iter().map(|id| t.column(*id).map(|c| quote_ident(&c.name)).unwrap_or_else(|| format!("[{id}]"))).collect()
}

fn column_def(catalog: &Catalog, t: &TableDescriptor, c: &Column) -> String {
    let ty = match c.ty {
        ColumnType::Int => "INT8",
        ColumnType::Float => "FLOAT8",
        ColumnType::Bool => "BOOL",
        ColumnType::String => "STRING",
        ColumnType::Bytes => "BYTES",
    };
    let mut out = format!("{} {ty}", quote_ident(&c.name));
    out.push_str(if c.nullable { " NULL" } else { " NOT NULL" });
    match &c.default {
        None => {}
        Some(DefaultExpr::Literal(d)) => out.push_str(&format!(" DEFAULT {d}")),
        Some(DefaultExpr::UniqueRowId) => out.push_str(" DEFAULT unique_rowid()"),
        Some(DefaultExpr::Nextval(id)) => {
            // nextval takes the sequence's name as a string literal.
            let name = match catalog.table(*id) {
                Some(s) if s.parent_id == t.parent_id => s.name.clone(),
                Some(s) => match catalog.database(s.parent_id) {
                    Some(db) => format!("{}.{}", db.name, s.name),
                    None => s.name.clone(),
                },
                None => format!("[{id}]"),
            };
            out.push_str(&format!(" DEFAULT nextval('{}')", name.replace('\'', "''")));
        }
    }
    out
}

fn create_table(catalog: &Catalog, t: &TableDescriptor) -> String {
    let mut lines: Vec<String> = t.columns.iter().filter(|c| !c.hidden).map(|c| column_def(catalog, t, c)).collect();
    // A primary key of hidden columns (the implicit rowid) is not shown, as in CockroachDB.
    let pk_hidden = t.primary_key.iter().all(|id| t.column(*id).is_none_or(|c| c.hidden));
    if !pk_hidden {
        let cols: Vec<String> = column_names(t, &t.primary_key).into_iter().map(|c| format!("{c} ASC")).collect();
        lines.push(format!("CONSTRAINT \"primary\" PRIMARY KEY ({})", cols.join(", ")));
    }
    for fk in &t.foreign_keys {
        let Some(target) = relation_name(catalog, t, fk.referenced_table_id) else { continue };
        let Some(parent) = catalog.table(fk.referenced_table_id) else { continue };
        lines.push(format!(
            "CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {target}({})",
            quote_ident(&fk.name),
            column_names(t, &fk.column_ids).join(", "),
            column_names(parent, &fk.referenced_column_ids).join(", ")
        ));
    }
    for idx in t.secondary_indexes() {
        let cols: Vec<String> = column_names(t, &idx.column_ids).into_iter().map(|c| format!("{c} ASC")).collect();
        lines.push(format!("{}INDEX {} ({})", if idx.unique { "UNIQUE " } else { "" }, quote_ident(&idx.name), cols.join(", ")));
    }
    let mut out = format!("CREATE TABLE {} (\n\t{}\n)", quote_ident(&t.name), lines.join(",\n\t"));
    if let Some(parent_id) = t.interleave_parent {
        let parent_len = catalog.table(parent_id).map(|p| p.primary_key.len()).unwrap_or(0);
        if let Some(parent) = relation_name(catalog, t, parent_id) {
            let cols = column_names(t, &t.primary_key[..parent_len.min(t.primary_key.len())]);
            out.push_str(&format!(" INTERLEAVE IN PARENT {parent} ({})", cols.join(", ")));
        }
    }
    out
}
