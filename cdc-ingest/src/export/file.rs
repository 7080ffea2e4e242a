//! Window files on disk: written under a temporary name, made durable, then
//! renamed into place, so a file under its final name is always complete.
//!
//! The sequence is the classic one: write `.NAME.tmp` in the output
//! directory, flush (and finish the gzip stream), `fsync` the file, rename
//! it to `NAME`, `fsync` the directory so the rename itself survives a
//! crash. A [`PartialFile`] dropped before [`PartialFile::commit`] removes
//! its temporary file; one left by a killed process is removed by
//! [`remove_stale_temps`] when the next run starts. Temporary names start
//! with a dot so consumers globbing `*.csv` never see them.
//!
//! Also here: the byte-level transforms of the COPY stream, which run
//! chunk by chunk (a chunk may end anywhere, even inside an escape):
//! counting CSV records and undoing COPY's text-format escapes for NDJSON.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;

/// Buffer between the COPY stream and the file.
const WRITE_BUFFER_BYTES: usize = 256 * 1024;

/// Suffix of temporary files.
pub const TEMP_SUFFIX: &str = ".tmp";

/// A filesystem step that failed, and on which path.
#[derive(Debug, thiserror::Error)]
#[error("failed to {action} {}: {source}", path.display())]
pub struct FileError {
    /// What was being done ("write", "fsync", "rename to" …).
    pub action: &'static str,
    /// The path it was done to.
    pub path: PathBuf,
    /// The operating system's error (e.g. "No space left on device").
    #[source]
    pub source: std::io::Error,
}

fn file_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> FileError + 'a {
    move |source| FileError {
        action,
        path: path.to_owned(),
        source,
    }
}

/// The temporary name of `final_name`.
pub fn temp_name(final_name: &str) -> String {
    format!(".{final_name}{TEMP_SUFFIX}")
}

enum Sink {
    Plain(BufWriter<File>),
    Gzip(GzEncoder<BufWriter<File>>),
}

/// A file being written under its temporary name.
pub struct PartialFile {
    temp: PathBuf,
    sink: Option<Sink>,
    bytes_in: u64,
}

impl PartialFile {
    /// Creates (or truncates) `dir/.NAME.tmp`.
    pub fn create(dir: &Path, final_name: &str, gzip: bool) -> Result<PartialFile, FileError> {
        let temp = dir.join(temp_name(final_name));
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)
            .map_err(file_err("create", &temp))?;
        let buf = BufWriter::with_capacity(WRITE_BUFFER_BYTES, file);
        let sink = if gzip {
            // The header's mtime stays 0 and the level fixed, so the same
            // rows always compress to the same bytes.
            Sink::Gzip(GzEncoder::new(buf, flate2::Compression::default()))
        } else {
            Sink::Plain(buf)
        };
        Ok(PartialFile {
            temp,
            sink: Some(sink),
            bytes_in: 0,
        })
    }

    /// Appends `data` (before compression).
    pub fn write(&mut self, data: &[u8]) -> Result<(), FileError> {
        let r = match self.sink.as_mut().expect("not committed") {
            Sink::Plain(w) => w.write_all(data),
            Sink::Gzip(w) => w.write_all(data),
        };
        r.map_err(file_err("write", &self.temp))?;
        self.bytes_in += data.len() as u64;
        Ok(())
    }

    /// Bytes written so far, before compression.
    pub fn bytes_in(&self) -> u64 {
        self.bytes_in
    }

    /// Flushes, fsyncs, renames to `dir/final_name` and fsyncs the
    /// directory. Returns the file's size on disk.
    pub fn commit(mut self, final_path: &Path) -> Result<u64, FileError> {
        let temp = self.temp.clone();
        let buf = match self.sink.take().expect("committed once") {
            Sink::Plain(w) => w,
            Sink::Gzip(w) => w.finish().map_err(file_err("write", &temp))?,
        };
        let file = buf
            .into_inner()
            .map_err(|e| file_err("write", &temp)(e.into_error()))?;
        file.sync_all().map_err(file_err("fsync", &temp))?;
        let size = file.metadata().map_err(file_err("stat", &temp))?.len();
        drop(file);
        std::fs::rename(&temp, final_path).map_err(file_err("rename to", final_path))?;
        // From here on the temporary name is gone; Drop must not remove
        // anything.
        self.temp = PathBuf::new();
        sync_dir(final_path.parent().expect("a file's path has a parent"))?;
        Ok(size)
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if !self.temp.as_os_str().is_empty() {
            // Unfinished: the temporary file goes, nothing appears under
            // the final name. A failure here leaves a dot-file the next run
            // removes.
            self.sink.take();
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// `fsync` on a directory, so renames and creations in it are durable.
pub fn sync_dir(dir: &Path) -> Result<(), FileError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(file_err("fsync directory", dir))
}

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename,
/// fsync the directory).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let dir = path.parent().expect("a file's path has a parent");
    let name = path
        .file_name()
        .expect("a file's path has a name")
        .to_string_lossy()
        .into_owned();
    let mut f = PartialFile::create(dir, &name, false)?;
    f.write(bytes)?;
    f.commit(path)?;
    Ok(())
}

/// Removes the temporary files a killed run left whose final names
/// `is_ours` accepts. Returns how many.
pub fn remove_stale_temps(dir: &Path, is_ours: impl Fn(&str) -> bool) -> Result<usize, FileError> {
    let mut removed = 0;
    let entries = std::fs::read_dir(dir).map_err(file_err("list", dir))?;
    for entry in entries {
        let entry = entry.map_err(file_err("list", dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Some(final_name) = name
            .strip_prefix('.')
            .and_then(|n| n.strip_suffix(TEMP_SUFFIX))
        else {
            continue;
        };
        if is_ours(final_name) {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(file_err("remove", &path))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Counts the records of a CSV stream: line ends outside quotes. A quote
/// inside a quoted field is doubled, so toggling on every quote is exact.
#[derive(Debug, Default)]
pub struct CsvRecords {
    in_quotes: bool,
    /// Records seen, the header included.
    pub records: u64,
}

impl CsvRecords {
    /// Feeds the next chunk.
    pub fn feed(&mut self, chunk: &[u8]) {
        for &b in chunk {
            match b {
                b'"' => self.in_quotes = !self.in_quotes,
                b'\n' if !self.in_quotes => self.records += 1,
                _ => {}
            }
        }
    }
}

/// Undoes COPY's text-format escapes (`\\`, `\n`, `\t` …) of a one-column
/// stream, leaving one line per row. A NULL (`\N`) cannot occur: the
/// exporter's rows are never NULL.
#[derive(Debug, Default)]
pub struct TextUnescape {
    pending_backslash: bool,
}

impl TextUnescape {
    /// Appends the unescaped `chunk` to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        for &b in chunk {
            if self.pending_backslash {
                self.pending_backslash = false;
                out.push(match b {
                    b'b' => 0x08,
                    b'f' => 0x0c,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'v' => 0x0b,
                    // `\\` and any other escaped byte stand for themselves.
                    other => other,
                });
            } else if b == b'\\' {
                self.pending_backslash = true;
            } else {
                out.push(b);
            }
        }
    }

    /// Whether the stream ended cleanly (not inside an escape).
    pub fn is_clean(&self) -> bool {
        !self.pending_backslash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_records_ignore_line_ends_inside_quotes_across_chunks() {
        let text = b"id,name\n1,\"two\nlines\"\n2,\"say \"\"hi\"\"\"\n3,\n";
        for split in 0..text.len() {
            let mut c = CsvRecords::default();
            c.feed(&text[..split]);
            c.feed(&text[split..]);
            assert_eq!(c.records, 4, "split at {split}");
        }
    }

    #[test]
    fn text_unescape_handles_escapes_split_between_chunks() {
        let copy = br#"{"a" : "x\\"y", "b" : "line\\nbreak"}"#;
        let want = br#"{"a" : "x\"y", "b" : "line\nbreak"}"#;
        for split in 0..copy.len() {
            let mut u = TextUnescape::default();
            let mut out = Vec::new();
            u.feed(&copy[..split], &mut out);
            u.feed(&copy[split..], &mut out);
            assert!(u.is_clean());
            assert_eq!(out, want.to_vec(), "split at {split}");
        }
        let mut u = TextUnescape::default();
        let mut out = Vec::new();
        u.feed(b"a\\tb\\", &mut out);
        assert!(!u.is_clean());
    }

    #[test]
    fn an_unfinished_file_leaves_nothing_and_a_committed_one_replaces_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let final_path = dir.path().join("w.csv");
        {
            let mut f = PartialFile::create(dir.path(), "w.csv", false).unwrap();
            f.write(b"half").unwrap();
            assert!(dir.path().join(".w.csv.tmp").exists());
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        std::fs::write(&final_path, b"old").unwrap();
        let mut f = PartialFile::create(dir.path(), "w.csv", true).unwrap();
        f.write(b"new rows\n").unwrap();
        assert_eq!(f.bytes_in(), 9);
        f.commit(&final_path).unwrap();
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("w.csv")]);
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(File::open(&final_path).unwrap()),
            &mut text,
        )
        .unwrap();
        assert_eq!(text, "new rows\n");
    }

    #[test]
    fn stale_temps_of_one_table_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        for n in [".events_1.csv.tmp", ".other_1.csv.tmp", "events_1.csv"] {
            std::fs::write(dir.path().join(n), b"x").unwrap();
        }
        let ours = |n: &str| n.starts_with("events_");
        assert_eq!(remove_stale_temps(dir.path(), ours).unwrap(), 1);
        assert!(dir.path().join(".other_1.csv.tmp").exists());
        assert!(dir.path().join("events_1.csv").exists());
    }
}
