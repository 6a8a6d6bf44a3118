//! Statement dress: the simulated clients send each statement in a surface form drawn from the
//! seed — keywords in lower case, the spaces between tokens widened into runs of blanks, tabs
//! and newlines, shell-style `\` line continuations (the reference page prints statements that
//! way), `/* */` and `--` comments — so the parser meets what users type, not only the one
//! spelling the scenarios format. Only the text outside string literals and quoted identifiers
//! changes, so every dressed statement means what its plain form means; the properties that
//! compare a job's description with the statement sent, or a refusal with its reason, hold it to
//! that.
//!
//! A statement that does not parse as sent (a scenario's deliberate syntax error) is sent
//! plain: the positions its error names must stay the scenario's.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// What may stand between two tokens, in place of one space.
const GAPS: [&str; 8] = [" ", "  ", "\n", "\t", " \\\n  ", " \\ \t\n", " /* dressed */ ", " -- dressed\n"];

/// `sql` in a surface form drawn from `rng` (see the module comment).
pub fn dress(rng: &mut ChaCha8Rng, sql: &str) -> String {
    if backup::statement::parse(sql).is_err() {
        return sql.to_string();
    }
    let lower = rng.gen_ratio(1, 3);
    // Most gaps stay plain, so a dressed statement still reads as one.
    let odds = rng.gen_range(0..4u32);
    let mut out = String::with_capacity(sql.len() * 2);
    let (mut single, mut double) = (false, false);
    for c in sql.chars() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            _ => {}
        }
        let outside = !single && !double && c != '\'' && c != '"';
        if outside && c == ' ' && odds > 0 && rng.gen_ratio(odds, 8) {
            out.push_str(GAPS[rng.gen_range(0..GAPS.len())]);
        } else if outside && lower {
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    const STATEMENTS: [&str; 6] = [
        "BACKUP DATABASE bank, \"Gäst db\" TO 'nodelocal://1/backups/Seed 1?x=It''s' AS OF SYSTEM TIME '-1s' WITH revision_history, encryption_passphrase = 'A b'",
        "BACKUP TABLE bank.customers, bank.accounts TO 's3://b/p?AWS_ACCESS_KEY_ID=K&AWS_SECRET_ACCESS_KEY=S' INCREMENTAL FROM 's3://b/q?AWS_ACCESS_KEY_ID=K&AWS_SECRET_ACCESS_KEY=S'",
        "RESTORE TABLE bank.customers FROM 'nodelocal://1/a', 'nodelocal://1/b' WITH into_db = 'restored'",
        "SHOW BACKUP 'gs://b/p?AUTH=implicit'",
        "PAUSE JOB 12",
        "RESTORE FROM 'azure://c/p?AZURE_ACCOUNT_NAME=a&AZURE_ACCOUNT_KEY=k' AS OF SYSTEM TIME '1585303209391146898.0000000009'",
    ];

    /// Every dressed statement parses to its plain form's statement, and the draws reach every
    /// gap, lower case, and a string literal left as written.
    #[test]
    fn a_dressed_statement_means_what_its_plain_form_means() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            for sql in STATEMENTS {
                let dressed = dress(&mut rng, sql);
                let want = backup::statement::parse(sql).expect("the plain form parses");
                let got = backup::statement::parse(&dressed).unwrap_or_else(|e| panic!("{dressed:?}: {e}"));
                assert!(got == want, "{dressed:?} parses to another statement");
                assert!(dressed.contains("'nodelocal://1/backups/Seed 1?x=It''s'") || !sql.contains("Seed 1"), "{dressed:?}");
                // The distinctive gaps (a plain run of blanks, a newline or a tab alone are
                // parts of the others), and lower case outside the literals.
                for (i, gap) in GAPS.iter().enumerate().skip(4) {
                    if dressed.contains(gap) {
                        seen.insert(i);
                    }
                }
                if dressed.starts_with(&sql[..4].to_lowercase()) {
                    seen.insert(100);
                }
            }
        }
        assert_eq!(seen.len(), GAPS.len() - 4 + 1, "{seen:?}");
    }

    #[test]
    fn a_statement_that_does_not_parse_is_sent_plain() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(dress(&mut rng, "BACKUP DATABASE bank INTO 'x'"), "BACKUP DATABASE bank INTO 'x'");
    }
}
