//! Batches: one statement, all or nothing, any size.

use std::time::Duration;

use pgkv::{Error, ScanOptions};
use pgkv_suite::{raw_row_count, store};

#[tokio::test]
async fn last_duplicate_wins_and_get_many_is_aligned() {
    let s = store("batch_dups").await;
    s.set_many(&[("a", "1"), ("b", "2"), ("a", "3"), ("c", "4"), ("a", "5")])
        .await
        .unwrap();
    assert_eq!(s.get_string("a").await.unwrap().as_deref(), Some("5"));
    let got = s.get_many(&["c", "missing", "a", "c", "b"]).await.unwrap();
    let want: Vec<Option<Vec<u8>>> = vec![
        Some(b"4".to_vec()),
        None,
        Some(b"5".to_vec()),
        Some(b"4".to_vec()),
        Some(b"2".to_vec()),
    ];
    assert_eq!(got, want);
    assert_eq!(
        s.get_many::<&str>(&[]).await.unwrap(),
        Vec::<Option<Vec<u8>>>::new()
    );
    s.set_many::<&str, &str>(&[]).await.unwrap();
    assert_eq!(s.delete_many(&["a", "a", "zz"]).await.unwrap(), 1);
}

#[tokio::test]
async fn large_batches_have_no_parameter_limit() {
    let s = store("batch_large").await;
    for n in [5_000usize, 70_000] {
        let items: Vec<(String, Vec<u8>)> = (0..n)
            .map(|i| (format!("k{n}:{i:06}"), i.to_string().into_bytes()))
            .collect();
        s.set_many(&items).await.unwrap();
        let prefix = format!("k{n}:");
        assert_eq!(
            s.count(ScanOptions::new().prefix(&prefix)).await.unwrap(),
            n as u64
        );
        let keys: Vec<&str> = items.iter().map(|(k, _)| k.as_str()).collect();
        let values = s.get_many(&keys).await.unwrap();
        assert!(
            values
                .iter()
                .zip(&items)
                .all(|(got, (_, want))| got.as_deref() == Some(want.as_slice()))
        );
        assert_eq!(s.delete_many(&keys).await.unwrap(), n as u64);
    }
    assert_eq!(raw_row_count(&s).await, 0);
}

#[tokio::test]
async fn one_bad_item_writes_nothing() {
    let s = store_small_limits().await;
    s.set("existing", "old").await.unwrap();
    let too_big = vec![0u8; 65];
    type Items = Vec<(String, Vec<u8>)>;
    type Check = fn(&Error) -> bool;
    let cases: Vec<(Items, Check)> = vec![
        (
            vec![("ok".into(), b"1".to_vec()), (String::new(), b"1".to_vec())],
            |e| matches!(e, Error::EmptyKey),
        ),
        (
            vec![("ok".into(), b"1".to_vec()), ("a\0b".into(), b"1".to_vec())],
            |e| matches!(e, Error::KeyContainsNul { .. }),
        ),
        (
            vec![("ok".into(), b"1".to_vec()), ("k".repeat(33), b"1".to_vec())],
            |e| matches!(e, Error::KeyTooLong { .. }),
        ),
        (
            vec![
                ("existing".into(), b"new".to_vec()),
                ("big".into(), too_big.clone()),
            ],
            |e| matches!(e, Error::ValueTooLarge { .. }),
        ),
    ];
    for (items, expected) in &cases {
        let err = s.set_many(items).await.unwrap_err();
        assert!(expected(&err), "{err:?}");
        let err = s.set_many_ex(items, Duration::from_secs(5)).await.unwrap_err();
        assert!(expected(&err), "{err:?}");
    }
    let err = s.set_many_ex(&[("ok", "1")], Duration::ZERO).await.unwrap_err();
    assert!(matches!(err, Error::InvalidTtl { .. }));
    assert!(matches!(
        s.get_many(&["ok", ""]).await.unwrap_err(),
        Error::EmptyKey
    ));
    assert!(matches!(
        s.delete_many(&["existing", "x\0"]).await.unwrap_err(),
        Error::KeyContainsNul { .. }
    ));
    assert_eq!(raw_row_count(&s).await, 1);
    assert_eq!(s.get_string("existing").await.unwrap().as_deref(), Some("old"));
}

async fn store_small_limits() -> pgkv::Store {
    pgkv_suite::store_with("batch_bad", |c| c.max_key_length(32).max_value_size(64)).await
}

#[tokio::test]
async fn set_many_ex_applies_one_ttl() {
    let s = store("batch_ttl").await;
    s.set("a", "permanent").await.unwrap();
    s.set_many_ex(&[("a", "1"), ("b", "2")], Duration::from_secs(60))
        .await
        .unwrap();
    for k in ["a", "b"] {
        let ttl = s.ttl(k).await.unwrap().expect("has a TTL");
        assert!(ttl <= Duration::from_secs(60) && ttl > Duration::from_secs(50));
    }
    s.set_many(&[("a", "1")]).await.unwrap();
    assert_eq!(s.ttl("a").await.unwrap(), None, "set_many clears TTL like set");
}
