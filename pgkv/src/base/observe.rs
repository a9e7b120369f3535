//! Telemetry: a `tracing` span per command (OpenTelemetry database
//! conventions; never a key or a value), and with the `metrics` feature,
//! counters and a latency histogram per operation, pool gauges and cleanup
//! counters through the `metrics` crate.
//!
//! With no subscriber and no recorder installed, a command pays one relaxed
//! atomic load for the span's interest check (and, with `metrics`, two
//! clock reads and calls into the no-op recorder).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tracing::field::Empty;

use crate::error::{Error, Result};

/// The span of one command on `collection` (`schema.table`).
pub(crate) fn span(op: &'static Op, collection: &str) -> tracing::Span {
    // No subscriber was ever installed: no span at all. (sqlx turns on
    // tracing's `log` feature, with which even a disabled span would be
    // built and checked against the logger on every poll.)
    if !tracing::dispatcher::has_been_set() {
        return tracing::Span::none();
    }
    let operation = op.name;
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

pin_project_lite::pin_project! {
    /// A command's future, run inside its span when a subscriber wants the
    /// span. Unlike `tracing::Instrument`, it does not enter a disabled span
    /// on every poll (with tracing's `log` feature on, as sqlx turns it on,
    /// each of those enters and exits costs a check of the logger).
    #[derive(Debug)]
    pub(crate) struct InSpan<F> {
        #[pin]
        inner: F,
        span: Option<tracing::Span>,
    }
}

/// Runs `inner` inside `span`, if the span is enabled.
pub(crate) fn in_span<F: Future>(inner: F, span: tracing::Span) -> InSpan<F> {
    let span = (!span.is_disabled()).then_some(span);
    InSpan { inner, span }
}

impl<F: Future> Future for InSpan<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _entered = this.span.as_ref().map(tracing::Span::enter);
        this.inner.poll(cx)
    }
}

/// One operation's name and metric keys, built at compile time by [`op!`]
/// so that recording a command allocates and hashes nothing.
#[derive(Debug)]
pub(crate) struct Op {
    pub(crate) name: &'static str,
    #[cfg(feature = "metrics")]
    pub(crate) calls: metrics::Key,
    #[cfg(feature = "metrics")]
    pub(crate) duration: metrics::Key,
}

/// Commands that never write (everything else may: the near-cache is
/// cleared after them).
pub(crate) fn is_read_only(name: &str) -> bool {
    matches!(
        name,
        "get"
            | "get_string"
            | "get_or_err"
            | "exists"
            | "ttl"
            | "ttl_status"
            | "expire_time"
            | "strlen"
            | "get_many"
            | "get_many_with"
            | "keys"
            | "scan"
            | "count"
            | "explain_keys"
            | "compute_read"
    )
}

/// The `&'static Op` of the operation named `$name`.
macro_rules! op {
    ($name:expr) => {{
        #[cfg(feature = "metrics")]
        static LABELS: [metrics::Label; 1] = [metrics::Label::from_static_parts("operation", $name)];
        static OP: $crate::base::observe::Op = $crate::base::observe::Op {
            name: $name,
            #[cfg(feature = "metrics")]
            calls: metrics::Key::from_static_parts("pgkv_commands_total", &LABELS),
            #[cfg(feature = "metrics")]
            duration: metrics::Key::from_static_parts("pgkv_command_duration_seconds", &LABELS),
        };
        &OP
    }};
}
pub(crate) use op;

#[cfg(feature = "metrics")]
static METADATA: metrics::Metadata<'static> =
    metrics::Metadata::new("pgkv", metrics::Level::INFO, Some(module_path!()));

/// Measures one command: started before it runs, [`Timer::finish`]ed with its result.
#[derive(Debug)]
pub(crate) struct Timer {
    op: &'static Op,
    /// The command's span, for its outcome (a disabled span costs nothing).
    span: tracing::Span,
    #[cfg(feature = "metrics")]
    started: std::time::Instant,
}

impl Timer {
    pub(crate) fn start(op: &'static Op, span: &tracing::Span) -> Timer {
        Timer {
            op,
            span: span.clone(),
            #[cfg(feature = "metrics")]
            started: std::time::Instant::now(),
        }
    }

    /// Records the outcome on the command's span (and in the metrics).
    pub(crate) fn finish<T>(self, result: &Result<T>) {
        if let Err(e) = result {
            self.span.record("error.type", e.kind());
        }
        #[cfg(feature = "metrics")]
        {
            let elapsed = self.started.elapsed().as_secs_f64();
            metrics::with_recorder(|recorder| {
                recorder.register_counter(&self.op.calls, &METADATA).increment(1);
                recorder
                    .register_histogram(&self.op.duration, &METADATA)
                    .record(elapsed);
            });
            if let Err(e) = result {
                metrics::counter!("pgkv_command_errors_total", "operation" => self.op.name, "error" => e.kind())
                    .increment(1);
            }
        }
        #[cfg(not(feature = "metrics"))]
        let _ = self.op;
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
            Error::InvalidPattern { .. } => "invalid_pattern",
            Error::InvalidTtl { .. } => "invalid_ttl",
            Error::InvalidExpiryTime { .. } => "invalid_expiry_time",
            Error::NotAnInteger { .. } => "not_an_integer",
            Error::Overflow { .. } => "overflow",
            Error::NotAFloat { .. } => "not_a_float",
            Error::InvalidUtf8 { .. } => "invalid_utf8",
            #[cfg(feature = "json")]
            Error::Json { .. } => "json",
            Error::Codec { .. } => "codec",
            Error::SnapshotIo { .. } => "snapshot_io",
            Error::InvalidSnapshot { .. } => "invalid_snapshot",
            Error::NotFound { .. } => "not_found",
            Error::InvalidConfig(_) => "invalid_config",
            Error::TableMissing { .. } => "table_missing",
            Error::CitusMissing => "citus_missing",
            Error::UnsupportedOnCitus { .. } => "unsupported_on_citus",
            Error::ShardFailed { .. } => "shard_failed",
            Error::TableTypeMismatch { .. } => "table_type_mismatch",
            Error::Connect { .. } => "connect",
            Error::Closed => "closed",
            Error::PoolTimedOut => "pool_timed_out",
            Error::Timeout { .. } => "timeout",
            Error::OutcomeUnknown { .. } => "outcome_unknown",
            Error::Contended { .. } => "contended",
            Error::TransactionAborted => "transaction_aborted",
            Error::PoolerNeedsSwitch { .. } => "pooler_needs_switch",
            Error::NamespaceMissing { .. } => "namespace_missing",
            Error::NamespaceExists { .. } => "namespace_exists",
            Error::LimitExceeded { .. } => "limit_exceeded",
            Error::WrongKind { .. } => "wrong_kind",
            Error::FenceSequenceMissing { .. } => "fence_sequence_missing",
            Error::InvalidRateLimit { .. } => "invalid_rate_limit",
            Error::LoaderFailed { .. } => "loader_failed",
            Error::Database(_) => "database",
        }
    }
}
