//! Metrics of `sextant export`, in the Prometheus text format, for its
//! `--metrics` listener while it runs as a scheduler.
//!
//! One process exports one table, so there are no labels. Names follow
//! `export_<thing>_<unit>` (STYLE §3). The lag behind the clock is
//! computed when scraped, so it grows while the exporter waits or fails.

use std::sync::atomic::{AtomicI64, AtomicU64};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::window::UnixTime;

/// The exporter's metrics.
pub struct ExportMetrics {
    registry: Registry,
    windows: Counter,
    rows: Counter,
    bytes: Counter,
    errors: Counter,
    last_window_end: Gauge<i64, AtomicI64>,
    last_window_rows: Gauge<i64, AtomicI64>,
    lag: Gauge<i64, AtomicI64>,
    reader_lag_ms: Gauge<u64, AtomicU64>,
}

impl Default for ExportMetrics {
    fn default() -> ExportMetrics {
        ExportMetrics::new()
    }
}

impl ExportMetrics {
    /// Registers every metric.
    pub fn new() -> ExportMetrics {
        let mut registry = Registry::default();
        let m = ExportMetrics {
            registry: Registry::default(),
            windows: Counter::default(),
            rows: Counter::default(),
            bytes: Counter::default(),
            errors: Counter::default(),
            last_window_end: Gauge::default(),
            last_window_rows: Gauge::default(),
            lag: Gauge::default(),
            reader_lag_ms: Gauge::default(),
        };
        registry.register(
            "export_windows",
            "Windows exported (files renamed into place)",
            m.windows.clone(),
        );
        registry.register("export_rows", "Rows exported", m.rows.clone());
        registry.register(
            "export_bytes",
            "Bytes written to window files (after compression)",
            m.bytes.clone(),
        );
        registry.register(
            "export_errors",
            "Export attempts that failed (retried by the scheduler)",
            m.errors.clone(),
        );
        registry.register(
            "export_last_window_end_seconds",
            "End of the last window exported, Unix seconds (0: none yet)",
            m.last_window_end.clone(),
        );
        registry.register(
            "export_last_window_rows",
            "Rows in the last window exported",
            m.last_window_rows.clone(),
        );
        registry.register(
            "export_lag_seconds",
            "Seconds from the end of the last window exported to now",
            m.lag.clone(),
        );
        registry.register(
            "export_source_lag_milliseconds",
            "How far the server read from was behind its writer when last asked",
            m.reader_lag_ms.clone(),
        );
        ExportMetrics { registry, ..m }
    }

    /// A window's file is in place.
    pub fn window_exported(&self, end: UnixTime, rows: u64, bytes: u64) {
        self.windows.inc();
        self.rows.inc_by(rows);
        self.bytes.inc_by(bytes);
        self.last_window_end.set(end.0);
        self.last_window_rows
            .set(i64::try_from(rows).unwrap_or(i64::MAX));
    }

    /// Where the exporter resumes from (before any window this run).
    pub fn resumed_at(&self, end: UnixTime) {
        self.last_window_end.set(end.0);
    }

    /// An attempt failed.
    pub fn error(&self) {
        self.errors.inc();
    }

    /// The source's replication lag as last measured.
    pub fn source_lag(&self, ms: u64) {
        self.reader_lag_ms.set(ms);
    }

    /// The text exposition, with the lag computed for `now`.
    pub fn encode(&self, now: UnixTime) -> String {
        let end = self.last_window_end.get();
        self.lag.set(if end == 0 {
            0
        } else {
            now.seconds_since(UnixTime(end))
        });
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposes_last_window_rows_and_lag() {
        let m = ExportMetrics::new();
        m.window_exported(UnixTime(7200), 5, 100);
        m.window_exported(UnixTime(10_800), 3, 50);
        let text = m.encode(UnixTime(11_000));
        for line in [
            "export_windows_total 2",
            "export_rows_total 8",
            "export_bytes_total 150",
            "export_last_window_end_seconds 10800",
            "export_last_window_rows 3",
            "export_lag_seconds 200",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
    }
}
