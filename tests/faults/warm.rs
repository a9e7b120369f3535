//! Warm restart after a real crash: the UNLOGGED table comes back empty and
//! the newest snapshot refills it, once, whichever of several starters runs.

use std::sync::Arc;
use std::time::Duration;

use pgkv::{ScanOptions, Store, WarmRestart};

use crate::cluster::Cluster;
use crate::{admin, config, raw_count};

pub(crate) async fn warm_restart_after_a_crash(cluster: &Arc<Cluster>) {
    let dir = std::env::temp_dir().join(format!("pgkv-faults-warm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("snapshot directory");
    let cfg = || config(cluster, "crash_warm").max_connections(4);
    let store = Store::with_config(cfg()).await.unwrap();
    let items: Vec<(String, String)> = (0..2_000)
        .map(|i| (format!("k{i:04}"), format!("v{i}")))
        .collect();
    store.set_many(&items).await.unwrap();
    store
        .set_ex("session", "s", Duration::from_secs(600))
        .await
        .unwrap();
    let saved = store.save_snapshot(dir.join("cache.pgkv")).await.unwrap();
    assert_eq!(saved.rows, 2_001);
    store.close().await;

    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.crash()).await.unwrap();
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.start_again())
        .await
        .unwrap();

    let admin = admin(cluster).await;
    assert_eq!(
        raw_count(&admin, "crash_warm").await,
        0,
        "the crash emptied the table"
    );
    // Three instances of the service start at once.
    let starters: Vec<_> = (0..3)
        .map(|_| {
            let (config, dir) = (cfg(), dir.clone());
            tokio::spawn(async move {
                let s = Store::with_config(config).await.expect("store after the crash");
                s.warm_restart(&dir).await.expect("warm restart")
            })
        })
        .collect();
    let mut restored = 0;
    for starter in starters {
        match starter.await.expect("starter panicked") {
            WarmRestart::Restored { summary, .. } => {
                restored += 1;
                assert_eq!((summary.restored, summary.expired), (2_001, 0));
            }
            WarmRestart::NotEmpty => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(restored, 1, "one starter refills the table");
    let after = Store::with_config(cfg()).await.unwrap();
    assert_eq!(after.count(ScanOptions::new()).await.unwrap(), 2_001);
    assert_eq!(after.get_string("k1234").await.unwrap().as_deref(), Some("v1234"));
    let left = after.ttl("session").await.unwrap().expect("the TTL came back");
    assert!(left <= Duration::from_secs(600) && left > Duration::ZERO);
    let _ = std::fs::remove_dir_all(&dir);
}
