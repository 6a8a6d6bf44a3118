//! The manifest's text dump: a stable, human-readable rendering of a [`Manifest`] for insta
//! snapshots, `backup-sim` and operators (one fact per line, every string escaped so one value
//! is one line). Kept apart from the manifest's format and checks; never parsed back.

use super::manifest::{FileInfo, Manifest};
use model::catalog::{Column, DefaultExpr, Descriptor, DescriptorState, PrivilegeDescriptor, TableDescriptor, TableKind};
use model::{MvccFilter, Timestamp};
use std::fmt::Write as _;

impl Manifest {
    /// A stable, human-readable rendering: one fact per line, times as CockroachDB decimals,
    /// keys pretty-printed, every list in stored order (which is deterministic), strings with
    /// control characters escaped so one record is always one line. Meant for insta snapshots
    /// and for operators; not parsed back.
    pub fn dump(&self) -> String {
        let mut out = String::new();
        self.dump_into(&mut out, true);
        out
    }

    /// [`Manifest::dump`] into `out`; without the files when `files` is false (a checkpoint
    /// prints its own).
    pub(crate) fn dump_into(&self, out: &mut String, files: bool) {
        // `write!` into a String cannot fail; the results are ignored for that reason.
        let _ = writeln!(out, "format version: {}", self.format_version);
        let _ = writeln!(out, "backup id: {}", clean(&self.backup_id));
        let _ = writeln!(out, "cluster id: {}", clean(&self.cluster_id));
        let _ = writeln!(out, "kind: {}", if self.is_full() { "full" } else { "incremental" });
        let _ = writeln!(out, "start time: {}", time(self.start_time));
        let _ = writeln!(out, "end time: {}", time(self.end_time));
        let filter = match self.mvcc_filter {
            MvccFilter::Latest => "latest",
            MvccFilter::AllRevisions => "all revisions",
        };
        let _ = writeln!(out, "mvcc filter: {filter}");
        let _ = writeln!(out, "revision start time: {}", time(self.revision_start_time));
        let _ = writeln!(out, "full cluster: {}", if self.is_full_cluster { "yes" } else { "no" });
        let _ = writeln!(out, "targets: {}", clean(&self.targets_description));
        // Only a locality-aware backup has the line, so other dumps read as they always did.
        if !self.partitions.is_empty() {
            list(out, "partitions", &self.partitions, |o, p| {
                let _ = write!(o, "{}", clean(p));
            });
        }
        list(out, "depends on", &self.depends_on, |o, l| {
            let _ = write!(o, "{}", clean(l));
        });
        list(out, "spans", &self.spans, |o, s| {
            let _ = write!(o, "{s}");
        });
        list(out, "introduced spans", &self.introduced_spans, |o, s| {
            let _ = write!(o, "{s}");
        });
        list(out, "descriptors", &self.descriptors, |o, d| self.dump_descriptor(o, d));
        list(out, "complete databases", &self.complete_dbs, |o, id| {
            let _ = write!(o, "{id} {}", self.db_name(*id));
        });
        list(out, "descriptor changes", &self.descriptor_changes, |o, c| {
            let _ = write!(o, "{} id {}: ", c.time, c.id);
            match &c.desc {
                None => {
                    let _ = write!(o, "gone");
                }
                Some(d) => self.dump_descriptor(o, d),
            }
        });
        if files {
            list(out, "files", &self.files, dump_file);
            let _ = writeln!(out, "entry counts: {}", self.entry_counts);
        }
        match &self.cluster_data {
            None => {
                let _ = writeln!(out, "cluster data: none");
            }
            Some(cd) => {
                let _ = writeln!(out, "cluster data:");
                list(out, "  users", &cd.users, |o, u| {
                    let kind = if u.is_role { "role" } else { "user" };
                    let pw = if u.has_password { " (password set)" } else { "" };
                    let _ = write!(o, "{kind} {}{pw}", clean(&u.name));
                });
                list(out, "  role memberships", &cd.role_memberships, |o, m| {
                    let admin = if m.is_admin { " with admin option" } else { "" };
                    let _ = write!(o, "{} in {}{admin}", clean(&m.member), clean(&m.role));
                });
                list(out, "  zones", &cd.zones, |o, (id, z)| {
                    let _ = write!(o, "{id}: gc.ttlseconds={}", z.gc_ttl_seconds);
                });
            }
        }
    }

    /// A database's name as the backup knows it, for qualifying table names.
    fn db_name(&self, id: u32) -> String {
        match self.descriptors.iter().find(|d| d.id() == id) {
            Some(Descriptor::Database(db)) => clean(&db.name),
            _ => format!("[{id}]"),
        }
    }

    /// One descriptor: a header line, then indented detail lines (columns, keys, indexes, foreign
    /// keys, grants). Continuation lines are indented by six spaces.
    fn dump_descriptor(&self, o: &mut String, d: &Descriptor) {
        match d {
            Descriptor::Database(db) => {
                let _ = write!(o, "{} database {}", db.id, clean(&db.name));
                dump_grants(o, &db.privileges);
            }
            Descriptor::Table(t) => self.dump_table(o, t),
        }
    }

    fn dump_table(&self, o: &mut String, t: &TableDescriptor) {
        let state = match t.state {
            DescriptorState::Public => "public",
            DescriptorState::Dropped => "dropped",
            DescriptorState::Offline => "offline",
        };
        let _ = write!(o, "{} {} {}.{} ({state})", t.id, t.kind_name(), self.db_name(t.parent_id), clean(&t.name));
        let col_name = |id: u32| t.column(id).map(|c| clean(&c.name)).unwrap_or_else(|| format!("[{id}]"));
        let names = |ids: &[u32]| ids.iter().map(|&id| col_name(id)).collect::<Vec<_>>().join(", ");
        match &t.kind {
            TableKind::Table => {}
            TableKind::View { query, depends_on } => {
                let deps = depends_on.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
                let _ = write!(o, "\n      query: {}\n      depends on: [{deps}]", clean(query));
            }
            TableKind::Sequence { start, increment } => {
                let _ = write!(o, "\n      start {start} increment {increment}");
            }
        }
        for c in &t.columns {
            let _ = write!(o, "\n      column {}", dump_column(c));
        }
        if !t.primary_key.is_empty() {
            let _ = write!(o, "\n      primary key ({})", names(&t.primary_key));
        }
        for i in &t.indexes {
            let unique = if i.unique { "unique " } else { "" };
            let _ = write!(o, "\n      {unique}index {} {} ({})", i.id, clean(&i.name), names(&i.column_ids));
        }
        for fk in &t.foreign_keys {
            let _ = write!(
                o,
                "\n      foreign key {} ({}) references {} ({})",
                clean(&fk.name),
                names(&fk.column_ids),
                fk.referenced_table_id,
                fk.referenced_column_ids.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
            );
        }
        if let Some(p) = t.interleave_parent {
            let _ = write!(o, "\n      interleaved in {p}");
        }
        let _ = write!(o, "\n      next column id {} next index id {}", t.next_column_id, t.next_index_id);
        dump_grants(o, &t.privileges);
    }
}

fn dump_column(c: &Column) -> String {
    let mut s = format!("{} {} {} {}", c.id, clean(&c.name), c.ty, if c.nullable { "NULL" } else { "NOT NULL" });
    match &c.default {
        None => {}
        Some(DefaultExpr::Literal(d)) => {
            let _ = write!(s, " DEFAULT {}", clean(&d.to_string()));
        }
        Some(DefaultExpr::Nextval(id)) => {
            let _ = write!(s, " DEFAULT nextval({id})");
        }
        Some(DefaultExpr::UniqueRowId) => s.push_str(" DEFAULT unique_rowid()"),
    }
    if c.hidden {
        s.push_str(" HIDDEN");
    }
    s
}

fn dump_grants(o: &mut String, p: &PrivilegeDescriptor) {
    let grants: Vec<String> =
        p.users.iter().map(|u| format!("{} {}", clean(&u.user), u.privileges.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(","))).collect();
    let _ = write!(o, "\n      grants: {}", if grants.is_empty() { "none".to_string() } else { grants.join("; ") });
}

fn dump_file(o: &mut String, f: &FileInfo) {
    let _ = write!(
        o,
        "{} {} checksum={:#010x} entries={} rows={} index_entries={} data_size={}",
        clean(&f.path),
        f.span,
        f.checksum,
        f.entries,
        f.rows,
        f.index_entries,
        f.data_size
    );
    if let Some(t) = f.start_time {
        let _ = write!(o, " start={t}");
    }
    if let Some(t) = f.end_time {
        let _ = write!(o, " end={t}");
    }
    if let Some(l) = &f.locality {
        let _ = write!(o, " locality={}", clean(l));
    }
}

/// Prints `title: none`, or `title: N` and one indented line per item.
pub(crate) fn list<T>(out: &mut String, title: &str, items: &[T], mut item: impl FnMut(&mut String, &T)) {
    if items.is_empty() {
        let _ = writeln!(out, "{title}: none");
        return;
    }
    let _ = writeln!(out, "{title}: {}", items.len());
    let indent = " ".repeat(title.len() - title.trim_start().len() + 2);
    for i in items {
        out.push_str(&indent);
        item(out, i);
        out.push('\n');
    }
}

pub(crate) fn dump_file_line(o: &mut String, f: &FileInfo) {
    dump_file(o, f)
}

/// A time as CockroachDB prints it, with the UTC date for non-zero times.
fn time(t: Timestamp) -> String {
    if t.is_zero() {
        t.to_string()
    } else {
        format!("{t} ({} UTC)", t.to_datetime_string())
    }
}

/// `s` with backslashes and control characters escaped, so one value is one line of a dump.
fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if ch == '\\' || ch.is_control() {
            out.extend(ch.escape_default());
        } else {
            out.push(ch);
        }
    }
    out
}
