//! The SQL layer's parser as the shell drives it: `split_statements` cuts a script into
//! statements, then each statement that is not BACKUP / RESTORE / a job statement runs through
//! `Session::execute` (the pre-pass for CockroachDB's extensions, sqlparser, then execution) on
//! a fresh in-memory cluster over a manual clock. Never panics; a statement's text as split
//! splits again to exactly itself (the shell runs what the split gives, so it must be what was
//! typed).
//!
//! `regressions/sql/` holds the inputs that once broke the split property: sqlparser's
//! tokenizer swallowing the character after a lone `?` or `&>`, and model's re-rendering of
//! quoted identifiers and prefixed literals holding a quote. Statements are now cut from the
//! script's own text, so each of them splits to itself.
#![no_main]

use futures::executor::block_on;
use libfuzzer_sys::fuzz_target;
use model::sql::{bulk_statement_kind, split_statements, Session};
use model::{catalog, LocalKv, ManualClock};
use std::sync::Arc;

/// Statements run per input: enough for CREATE, INSERT, then a query; bounded so one input
/// cannot run for long.
const MAX_STATEMENTS: usize = 8;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(statements) = split_statements(text) else { return };
    for s in &statements {
        match split_statements(s) {
            Ok(again) => assert_eq!(&again, std::slice::from_ref(s), "{s:?} (from {text:?}) does not split to itself"),
            Err(e) => panic!("{s:?} (from {text:?}) no longer tokenizes: {e}"),
        }
    }
    let clock = Arc::new(ManualClock::new(1_600_000_000_000_000_000));
    let kv = Arc::new(LocalKv::new(clock.clone()));
    block_on(catalog::bootstrap(&*kv)).expect("bootstrap of a fresh store");
    let mut session = Session::root(kv);
    for s in statements.iter().take(MAX_STATEMENTS) {
        // The shell routes by backup's test; the SQL layer refuses what model's test names. They
        // must agree, or a statement is refused by the layer it was sent to.
        let bulk = backup::statement::is_bulk_statement(s);
        assert_eq!(bulk_statement_kind(s).is_some(), bulk, "{s:?}: the shell and the SQL layer disagree on whether it is a bulk statement");
        if bulk {
            continue;
        }
        let _ = block_on(session.execute(s));
        clock.advance(std::time::Duration::from_millis(10));
    }
});
