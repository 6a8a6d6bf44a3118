//! What the operator reads is what the answer holds: the shell prints a statement's answer as a
//! text table (`backup::show::QueryResult::render`), and an operator reads SHOW BACKUP there,
//! not as datums. The simulation holds every SHOW BACKUP answer it checks against the oracle to
//! its printed form too: read back by this module's own reader (columns cut at the widths the
//! dashed rule gives, in displayed columns), the table must give back every column name and
//! every cell, row by row, and the row count its footer states. A printer that shifts a column,
//! drops a separator or a row, or miscounts, fails the seed.
//!
//! The reader knows only the printed layout the README documents (a header, a rule of dashes
//! joined by `-+-`, cells joined by ` | ` and padded to their column's width, a cell of several
//! lines taking as many lines with the other columns blank, tabs as four spaces, trailing blanks
//! trimmed, then `(N rows)`), not the printer's code.

use crate::property::Property;
use crate::run::Failure;
use model::Datum;
use unicode_width::UnicodeWidthStr;

fn fail(message: String) -> Failure {
    Failure { property: Property::ShowMatchesOracle, message }
}

/// A cell as the operator reads it: NULL for a null, a string as itself, anything else in its
/// display form; tabs as four spaces.
fn cell_text(d: &Datum) -> String {
    let s = match d {
        Datum::Null => "NULL".to_string(),
        Datum::String(s) => s.clone(),
        other => other.to_string(),
    };
    s.replace('\t', "    ")
}

/// The lines of a cell as printed: each without its trailing blanks (the printer trims a line's
/// end, so a value's own trailing blanks on the last column are not visible), and one empty
/// line for an empty cell.
fn cell_lines(s: &str) -> Vec<String> {
    let lines: Vec<String> = s.lines().map(|l| l.trim_end().to_string()).collect();
    if lines.is_empty() {
        vec![String::new()]
    } else {
        lines
    }
}

/// `line` cut into cells at `widths` (displayed columns), each with its padding trimmed. A
/// cell other than the last ends where its text is exactly its column's width and ` | ` follows
/// (the first such place: a cell's value may itself hold ` | `), or at the line's end when the
/// printer trimmed it there (every later cell empty).
fn cut(line: &str, widths: &[usize]) -> Result<Vec<String>, String> {
    let mut cells = Vec::with_capacity(widths.len());
    let mut rest = line;
    for (i, &w) in widths.iter().enumerate() {
        if i > 0 && !rest.is_empty() {
            rest = match rest.strip_prefix(" | ") {
                Some(r) => r,
                // The separator before an empty last cell, trimmed with it.
                None if rest == " |" => "",
                None => return Err(format!("column {} is not preceded by \" | \" (found {:?})", i + 1, rest.chars().take(3).collect::<String>())),
            };
        }
        if i + 1 == widths.len() {
            cells.push(rest.trim_end().to_string());
            rest = "";
            break;
        }
        let end =
            rest.match_indices(" | ").map(|(b, _)| b).chain(rest.strip_suffix(" |").map(str::len)).find(|&b| rest[..b].width() == w).unwrap_or(rest.len());
        if rest[..end].width() > w {
            return Err(format!("column {} is wider than its rule ({} columns): {:?}", i + 1, w, &rest[..end]));
        }
        cells.push(rest[..end].trim_end().to_string());
        rest = &rest[end..];
    }
    if !rest.is_empty() {
        return Err(format!("text past the last column: {rest:?}"));
    }
    Ok(cells)
}

/// Reads `printed` back and compares it with the answer (`columns`, `rows`); `what` names the
/// statement in a failure.
pub(crate) fn printed_matches(what: &str, printed: &str, columns: &[String], rows: &[Vec<Datum>]) -> Result<(), Failure> {
    let bad = |why: String| fail(format!("the shell's printing of {what} does not read back as its answer: {why}\n{printed}"));
    let lines: Vec<&str> = printed.lines().collect();
    let (Some(header), Some(rule), Some(footer)) = (lines.first(), lines.get(1), lines.last()) else {
        return Err(bad("fewer than three lines".into()));
    };
    let plural = if rows.len() == 1 { "" } else { "s" };
    if *footer != format!("({} row{plural})", rows.len()) {
        return Err(bad(format!("its footer {footer:?} does not count {} row{plural}", rows.len())));
    }
    let widths: Vec<usize> = rule.split("-+-").map(|d| d.chars().count()).collect();
    if widths.len() != columns.len() || rule.split("-+-").any(|d| d.chars().any(|c| c != '-')) {
        return Err(bad(format!("its rule {rule:?} does not mark {} columns", columns.len())));
    }
    let names = cut(header, &widths).map_err(|e| bad(format!("header: {e}")))?;
    if names != columns {
        return Err(bad(format!("its header reads {names:?}, not {columns:?}")));
    }
    if let Some((r, row)) = rows.iter().enumerate().find(|(_, row)| row.len() != columns.len()) {
        return Err(fail(format!("{what} answered row {} with {} values for its {} columns: {row:?}", r + 1, row.len(), columns.len())));
    }
    let body = &lines[2..lines.len() - 1];
    let mut at = 0;
    for (r, row) in rows.iter().enumerate() {
        let cells: Vec<Vec<String>> = row.iter().map(|d| cell_lines(&cell_text(d))).collect();
        let height = cells.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let Some(printed_rows) = body.get(at..at + height) else {
            return Err(bad(format!("row {} is missing: {} lines follow the rule", r + 1, body.len())));
        };
        for (k, line) in printed_rows.iter().enumerate() {
            let read = cut(line, &widths).map_err(|e| bad(format!("row {}, line {}: {e}", r + 1, k + 1)))?;
            for (c, cell) in cells.iter().enumerate() {
                let want = cell.get(k).map(String::as_str).unwrap_or("");
                if read.get(c).map(String::as_str) != Some(want) {
                    return Err(bad(format!("row {}, column {:?}, line {} reads {:?}, not {want:?}", r + 1, columns.get(c), k + 1, read.get(c))));
                }
            }
        }
        at += height;
    }
    if at != body.len() {
        return Err(bad(format!("{} lines follow the last row", body.len() - at)));
    }
    Ok(())
}

/// The shell's printing of an answer, held to the answer.
pub(crate) fn answer_prints_true(what: &str, columns: &[String], rows: &[Vec<Datum>]) -> Result<(), Failure> {
    let printed = backup::show::QueryResult { columns: columns.to_vec(), rows: rows.to_vec() }.render();
    printed_matches(what, &printed, columns, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn s(v: &str) -> Datum {
        Datum::String(v.into())
    }

    #[test]
    fn the_printers_tables_read_back() {
        let columns = cols(&["database_name", "object_name", "rows", "create_statement"]);
        let rows = vec![
            vec![s("bank"), s("日本"), Datum::Int(12), s("CREATE TABLE t (\n\ta INT8\n)")],
            vec![Datum::Null, s(""), Datum::Null, s("x | y")],
            vec![s("a  "), s("b"), Datum::Int(-1), s("")],
            vec![s("x | y"), s("⌚ café"), Datum::Int(0), s("last")],
            vec![s(""), s(""), Datum::Null, s("")],
        ];
        answer_prints_true("SHOW BACKUP", &columns, &rows).unwrap();
        answer_prints_true("SHOW BACKUP", &columns, &[]).unwrap();
        answer_prints_true("SHOW BACKUP", &cols(&["a"]), &[vec![s("only")]]).unwrap();
        // A row of another length than the columns is the answer's own fault, named as such.
        let e = answer_prints_true("SHOW BACKUP", &cols(&["a"]), &[vec![s("x"), s("")]]).unwrap_err();
        assert!(e.message.contains("2 values for its 1 columns"), "{}", e.message);
    }

    #[test]
    fn a_misprinted_table_is_caught() {
        let columns = cols(&["a", "bb"]);
        let rows = vec![vec![s("x"), s("y")], vec![s("long"), s("z")]];
        let good = "a    | bb\n-----+---\nx    | y\nlong | z\n(2 rows)\n";
        printed_matches("t", good, &columns, &rows).unwrap();
        for bad in [
            "a    | bb\n-----+---\nx    | y\n(2 rows)\n",
            "a    | bb\n-----+---\nx    | y\nlong | z\n(1 row)\n",
            " | a    bb\n-----+---\n | x    y\n | long z\n(2 rows)\n",
            "a    bb\n-----+---\nx    y\nlong z\n(2 rows)\n",
            "a    | bb\n-----+---\nlong | z\nx    | y\n(2 rows)\n",
            "a    | bb\n------+--\nx    | y\nlong | z\n(2 rows)\n",
            "a    | cc\n-----+---\nx    | y\nlong | z\n(2 rows)\n",
            "a    | bb\n-----+---\nx    | y\nlong | z\nmore\n(2 rows)\n",
        ] {
            assert!(printed_matches("t", bad, &columns, &rows).is_err(), "{bad}");
        }
    }
}
