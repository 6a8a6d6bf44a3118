//! The secrets-hidden property: a seed's storage credentials and encryption passphrase must
//! appear nowhere a user or an operator reads — the trace (which holds every job event and
//! every statement's outcome), the report's detail and the failure message. Checked on every
//! seed of the scenarios that use secrets, so a redaction slip anywhere in the backup code
//! (an error that quotes its URL, a job description, an event) fails a seed, not only the
//! in-process test written next to the redaction.

use crate::property::Property;
use crate::run::{Failure, RunReport};
use sim::Trace;

/// Fails `report` with [`Property::SecretsHidden`] when one of `secrets` appears in `trace`,
/// the report's detail or its failure message. A leak replaces an earlier failure (it is the
/// worse news) and names that failure's property; it never quotes the secret itself.
pub(crate) fn check(report: &mut RunReport, trace: &Trace, secrets: &[String]) {
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).filter(|s| !s.is_empty()).collect();
    let leaks = |text: &str| secrets.iter().position(|s| text.contains(s));
    let found = trace
        .lines()
        .iter()
        .enumerate()
        .find_map(|(n, line)| leaks(line).map(|i| (format!("trace line {}", n + 1), i)))
        .or_else(|| leaks(&report.detail).map(|i| ("the report's detail".to_string(), i)))
        .or_else(|| report.failure.as_ref().and_then(|f| leaks(&f.message)).map(|i| ("the failure message".to_string(), i)));
    if let Some((place, which)) = found {
        let also = report.failure.as_ref().map(|f| format!(" (the run had also failed {})", f.property)).unwrap_or_default();
        report.failure = Some(Failure { property: Property::SecretsHidden, message: format!("secret #{} of the run appears in {place}{also}", which + 1) });
    }
}
