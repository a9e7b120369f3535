//! Telemetry through the `metrics` crate: counters and latency histograms
//! per command, pool gauges and cleanup counters. A binary of its own: the
//! recorder is global, and no other test may add to its counts.

use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_commands_errors_and_connections() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().expect("the only recorder in this binary");

    let s = pgkv_suite::store_with("tel_metrics", |c| c.idle_timeout(Duration::from_millis(200))).await;
    for _ in 0..3 {
        s.set("k", "v").await.unwrap();
    }
    s.get("k").await.unwrap();
    s.increment("k", 1).await.unwrap_err();
    // Taking a snapshot resets the counters: one for the commands above.
    let snapshot = snapshotter.snapshot().into_hashmap();

    let cleanup = s.spawn_cleanup(Duration::from_millis(10));
    // Then wait for a cleanup pass and a reaper tick (pool gauges), bounded.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut passes = 0;
    let mut gauges = false;
    while passes == 0 || !gauges {
        for (key, (_, _, value)) in snapshotter.snapshot().into_hashmap() {
            match (key.key().name(), value) {
                ("pgkv_cleanup_passes_total", DebugValue::Counter(n)) => passes += n,
                ("pgkv_pool_connections", DebugValue::Gauge(_)) => gauges = true,
                _ => {}
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no cleanup pass or gauge recorded"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cleanup.shutdown().await;

    let counter = |name: &str, labels: &[(&str, &str)]| -> u64 {
        snapshot
            .iter()
            .filter(|(k, _)| {
                k.key().name() == name
                    && labels
                        .iter()
                        .all(|(l, v)| k.key().labels().any(|kl| kl.key() == *l && kl.value() == *v))
            })
            .map(|(_, (_, _, value))| match value {
                DebugValue::Counter(n) => *n,
                other => panic!("{name} is not a counter: {other:?}"),
            })
            .sum()
    };
    assert_eq!(counter("pgkv_commands_total", &[("operation", "set")]), 3);
    assert_eq!(counter("pgkv_commands_total", &[("operation", "get")]), 1);
    assert_eq!(counter("pgkv_commands_total", &[("operation", "increment")]), 1);
    assert_eq!(
        counter(
            "pgkv_command_errors_total",
            &[("operation", "increment"), ("error", "not_an_integer")]
        ),
        1
    );
    assert_eq!(counter("pgkv_command_errors_total", &[("operation", "set")]), 0);
    let timed = snapshot
        .iter()
        .find(|(k, _)| {
            k.key().name() == "pgkv_command_duration_seconds" && k.key().labels().any(|l| l.value() == "set")
        })
        .map(|(_, (_, _, value))| value);
    assert!(
        matches!(timed, Some(DebugValue::Histogram(h)) if h.len() == 3),
        "{timed:?}"
    );
}
