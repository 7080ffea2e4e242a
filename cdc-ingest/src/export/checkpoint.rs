//! The checkpoint: the last window exported, kept beside the files as
//! `TABLE.checkpoint.json`.
//!
//! It is written atomically, and only after that window's file has been
//! renamed into place, so it never claims a window whose file is missing;
//! a crash between the two makes the next run export that window again,
//! to identical bytes. It also records what shaped the files (time column,
//! period, format, compression): resuming with other settings would leave
//! a directory of mixed windows, so that is refused rather than guessed.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::file::{write_atomically, FileError};
use super::window::{Period, UnixTime, Window};

/// The checkpoint file's format version.
const CHECKPOINT_VERSION: u32 = 1;

/// What a checkpoint file holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// [`CHECKPOINT_VERSION`].
    pub version: u32,
    /// The table, as `TableName`'s display.
    pub table: String,
    /// The time column.
    pub time_column: String,
    /// Window length in seconds.
    pub every_seconds: u32,
    /// `csv` or `ndjson`.
    pub format: String,
    /// `gzip` or none.
    pub compress: Option<String>,
    /// The last window exported: its start (RFC 3339, UTC).
    pub last_window_start: String,
    /// Its end, where the next window starts.
    pub last_window_end: String,
}

/// Why the checkpoint could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Reading or writing it failed.
    #[error(transparent)]
    File(#[from] FileError),
    /// It exists but cannot be read.
    #[error("failed to read checkpoint {}: {detail}", path.display())]
    Read {
        /// The checkpoint's path.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// It was written with other settings.
    #[error(
        "checkpoint {} was written with {field} = {found}, but this run has {wanted}; \
         export to another --out directory, or remove the checkpoint to start over",
        path.display()
    )]
    Mismatch {
        /// The checkpoint's path.
        path: PathBuf,
        /// Which setting differs.
        field: &'static str,
        /// What the checkpoint says.
        found: String,
        /// What this run uses.
        wanted: String,
    },
}

impl Checkpoint {
    /// A checkpoint for `window` with this run's settings.
    pub fn new(settings: &Checkpoint, window: Window) -> Checkpoint {
        Checkpoint {
            last_window_start: window.start.to_string(),
            last_window_end: window.end.to_string(),
            ..settings.clone()
        }
    }

    /// Reads `path`; `None` if it does not exist. Checks it was written
    /// with the same settings as `settings` (whose window is ignored).
    pub fn load(path: &Path, settings: &Checkpoint) -> Result<Option<Window>, CheckpointError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(FileError {
                    action: "read",
                    path: path.to_owned(),
                    source,
                }
                .into())
            }
        };
        let read_err = |detail: String| CheckpointError::Read {
            path: path.to_owned(),
            detail,
        };
        let c: Checkpoint = serde_json::from_slice(&bytes).map_err(|e| read_err(e.to_string()))?;
        if c.version != CHECKPOINT_VERSION {
            return Err(read_err(format!(
                "version {} (this build reads {CHECKPOINT_VERSION})",
                c.version
            )));
        }
        let mismatch = |field, found: String, wanted: String| {
            (found != wanted).then(|| CheckpointError::Mismatch {
                path: path.to_owned(),
                field,
                found,
                wanted,
            })
        };
        let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "none".into());
        let checks = [
            mismatch("table", c.table.clone(), settings.table.clone()),
            mismatch(
                "time column",
                c.time_column.clone(),
                settings.time_column.clone(),
            ),
            mismatch(
                "--every (seconds)",
                c.every_seconds.to_string(),
                settings.every_seconds.to_string(),
            ),
            mismatch("--format", c.format.clone(), settings.format.clone()),
            mismatch("--compress", opt(&c.compress), opt(&settings.compress)),
        ];
        if let Some(e) = checks.into_iter().flatten().next() {
            return Err(e);
        }
        let start = UnixTime::parse(&c.last_window_start).map_err(|e| read_err(e.to_string()))?;
        let end = UnixTime::parse(&c.last_window_end).map_err(|e| read_err(e.to_string()))?;
        let period = Period::new(std::time::Duration::from_secs(u64::from(c.every_seconds)))
            .map_err(|e| read_err(e.to_string()))?;
        let window = period.window_containing(start);
        if window.start != start || window.end != end {
            return Err(read_err(format!(
                "[{start}, {end}) is not a window of {period}"
            )));
        }
        Ok(Some(window))
    }

    /// Writes it to `path` atomically.
    pub fn store(&self, path: &Path) -> Result<(), CheckpointError> {
        assert_eq!(self.version, CHECKPOINT_VERSION);
        let mut text = serde_json::to_string_pretty(self).expect("a checkpoint serializes");
        text.push('\n');
        write_atomically(path, text.as_bytes())?;
        Ok(())
    }

    /// This run's settings, with no window yet.
    pub fn settings(
        table: String,
        time_column: String,
        period: Period,
        format: &str,
        compress: Option<&str>,
    ) -> Checkpoint {
        Checkpoint {
            version: CHECKPOINT_VERSION,
            table,
            time_column,
            every_seconds: period.seconds(),
            format: format.to_owned(),
            compress: compress.map(str::to_owned),
            last_window_start: String::new(),
            last_window_end: String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(every: u64) -> Checkpoint {
        let p = Period::new(std::time::Duration::from_secs(every)).unwrap();
        Checkpoint::settings("events".into(), "ts".into(), p, "csv", Some("gzip"))
    }

    #[test]
    fn round_trips_and_refuses_other_settings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.checkpoint.json");
        assert!(Checkpoint::load(&path, &settings(3600)).unwrap().is_none());
        let w = Window {
            start: UnixTime(3600),
            end: UnixTime(7200),
        };
        Checkpoint::new(&settings(3600), w).store(&path).unwrap();
        assert_eq!(Checkpoint::load(&path, &settings(3600)).unwrap(), Some(w));
        let e = Checkpoint::load(&path, &settings(60)).unwrap_err();
        assert!(e.to_string().contains("--every (seconds) = 3600"), "{e}");
        std::fs::write(&path, b"{not json").unwrap();
        let e = Checkpoint::load(&path, &settings(3600)).unwrap_err();
        assert!(matches!(e, CheckpointError::Read { .. }), "{e}");
    }
}
