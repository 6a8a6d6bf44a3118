//! The prompt's history file (`~/.backup-sim-history` by default). Every entry is stored with
//! its secrets taken out ([`super::redact`]) — so Up recalls a statement with `'redacted'` where
//! a passphrase or key was — and appended the moment it is added, so a crash or a kill loses
//! nothing. A file written by an older shell, which stored secrets in clear, is rewritten
//! redacted when it is loaded.

use super::redact;
use rustyline::history::{FileHistory, History as _};
use rustyline::Editor;
use std::path::{Path, PathBuf};

/// The history of one prompt session and where it is kept.
pub struct History {
    path: Option<PathBuf>,
    /// A failure to write the file is reported once, not after every statement.
    warned: bool,
}

impl History {
    /// Loads `path` (if any) into `rl`'s history, rewriting the file if an entry in it still
    /// holds a secret. Problems are warnings on standard error: the prompt works without history.
    pub fn load<H: rustyline::Helper>(rl: &mut Editor<H, FileHistory>, path: Option<&Path>) -> History {
        let mut h = History { path: path.map(Path::to_path_buf), warned: false };
        let Some(path) = path else { return h };
        match rl.load_history(path) {
            Ok(()) => {}
            Err(rustyline::error::ReadlineError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => return h,
            Err(e) => {
                eprintln!("warning: cannot read the history file {}: {e}", path.display());
                h.warned = true;
                return h;
            }
        }
        let entries: Vec<String> = rl.history().iter().cloned().collect();
        let cleaned: Vec<String> = entries.iter().map(|e| redact::text(e)).collect();
        if cleaned != entries {
            let _ = rl.history_mut().clear();
            for e in cleaned {
                let _ = rl.history_mut().add_owned(e);
            }
            if let Err(e) = rl.save_history(path) {
                eprintln!("warning: the history file {} holds secrets from an older shell and could not be rewritten: {e}", path.display());
                h.warned = true;
            }
        }
        h
    }

    /// Adds `entry` (as typed: one or more statements) to the history, redacted, and appends
    /// it to the file at once.
    pub fn add<H: rustyline::Helper>(&mut self, rl: &mut Editor<H, FileHistory>, entry: &str) {
        let _ = rl.add_history_entry(redact::text(entry.trim()));
        let Some(path) = &self.path else { return };
        if let Err(e) = rl.append_history(path) {
            if !self.warned {
                eprintln!("warning: cannot write the history file {}: {e}", path.display());
                self.warned = true;
            }
        }
    }
}
