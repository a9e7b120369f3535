//! Telemetry: a `tracing` span per command (OpenTelemetry database
//! conventions; never a key or a value), and with the `metrics` feature,
//! counters and a latency histogram per operation, pool gauges and cleanup
//! counters through the `metrics` crate.
//!
//! With no subscriber and no recorder installed, a command pays one relaxed
//! atomic load for the span's interest check (and, with `metrics`, two
//! clock reads and calls into the no-op recorder).

use tracing::field::Empty;

use crate::error::{Error, Result};

/// The span of one command on `collection` (`schema.table`).
pub(crate) fn span(operation: &'static str, collection: &str) -> tracing::Span {
    tracing::debug_span!(
        target: "pgkv",
        "pgkv.command",
        otel.name = %format_args!("{operation} {collection}"),
        otel.kind = "client",
        db.system.name = "postgresql",
        db.operation.name = operation,
        db.collection.name = collection,
        error.type = Empty,
    )
}

/// Measures one command: started before it runs, [`Timer::finish`]ed with its result.
#[derive(Debug)]
pub(crate) struct Timer {
    operation: &'static str,
    /// The command's span, for its outcome (a disabled span costs nothing).
    span: tracing::Span,
    #[cfg(feature = "metrics")]
    started: std::time::Instant,
}

impl Timer {
    pub(crate) fn start(operation: &'static str, span: &tracing::Span) -> Timer {
        Timer {
            operation,
            span: span.clone(),
            #[cfg(feature = "metrics")]
            started: std::time::Instant::now(),
        }
    }

    /// Records the outcome on the current span (and in the metrics).
    pub(crate) fn finish<T>(self, result: &Result<T>) {
        if let Err(e) = result {
            self.span.record("error.type", e.kind());
        }
        #[cfg(feature = "metrics")]
        {
            let operation = self.operation;
            metrics::counter!("pgkv_commands_total", "operation" => operation).increment(1);
            metrics::histogram!("pgkv_command_duration_seconds", "operation" => operation)
                .record(self.started.elapsed().as_secs_f64());
            if let Err(e) = result {
                metrics::counter!("pgkv_command_errors_total", "operation" => operation, "error" => e.kind())
                    .increment(1);
            }
        }
        #[cfg(not(feature = "metrics"))]
        let _ = self.operation;
    }
}

/// Connection counts of one store, as gauges labelled with its table.
#[cfg(feature = "metrics")]
pub(crate) fn pool_gauges(collection: &str, size: usize, idle: usize, waiting: usize) {
    let table = collection.to_owned();
    metrics::gauge!("pgkv_pool_connections", "table" => table.clone(), "state" => "open").set(size as f64);
    metrics::gauge!("pgkv_pool_connections", "table" => table.clone(), "state" => "idle").set(idle as f64);
    metrics::gauge!("pgkv_pool_waiting", "table" => table).set(waiting as f64);
}

/// One pass of the cleanup task.
#[cfg(feature = "metrics")]
pub(crate) fn cleanup_pass(collection: &str, rows: u64, failed: bool) {
    let table = collection.to_owned();
    metrics::counter!("pgkv_cleanup_passes_total", "table" => table.clone()).increment(1);
    metrics::counter!("pgkv_cleanup_rows_deleted_total", "table" => table.clone()).increment(rows);
    if failed {
        metrics::counter!("pgkv_cleanup_failed_passes_total", "table" => table).increment(1);
    }
}

impl Error {
    /// A short, stable name for the kind of error (`error.type` in spans,
    /// the `error` label in metrics): the SQLSTATE when the server sent one.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Error::EmptyKey => "empty_key",
            Error::KeyContainsNul { .. } => "key_contains_nul",
            Error::KeyTooLong { .. } => "key_too_long",
            Error::ValueTooLarge { .. } => "value_too_large",
            Error::BatchTooLarge { .. } => "batch_too_large",
            Error::InvalidTtl { .. } => "invalid_ttl",
            Error::NotAnInteger { .. } => "not_an_integer",
            Error::Overflow { .. } => "overflow",
            Error::InvalidUtf8 { .. } => "invalid_utf8",
            #[cfg(feature = "json")]
            Error::Json { .. } => "json",
            Error::NotFound { .. } => "not_found",
            Error::InvalidConfig(_) => "invalid_config",
            Error::TableMissing { .. } => "table_missing",
            Error::TableTypeMismatch { .. } => "table_type_mismatch",
            Error::Connect { .. } => "connect",
            Error::Closed => "closed",
            Error::PoolTimedOut => "pool_timed_out",
            Error::Timeout { .. } => "timeout",
            Error::OutcomeUnknown { .. } => "outcome_unknown",
            Error::Contended { .. } => "contended",
            Error::TransactionAborted => "transaction_aborted",
            Error::Database(_) => "database",
        }
    }
}
