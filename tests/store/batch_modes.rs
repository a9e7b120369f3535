//! Batches with a mode: all or nothing, or best effort with a report of
//! each refused item.

use pgkv::{BatchMode, Error, LimitPolicy, NamespaceConfig};
use pgkv_suite::{raw_row_count, store_with, unique_table};

#[tokio::test]
async fn best_effort_writes_the_valid_items_and_names_the_rest() {
    let s = store_with("bm_set", |c| c.max_key_length(8).max_value_size(4)).await;
    let items: Vec<(&str, &[u8])> = vec![
        ("a", b"1"),
        ("", b"x"), // 1: empty key
        ("b", b"22"),
        ("n\0l", b"x"),       // 3: NUL in key
        ("toolongkey", b"x"), // 4: key over 8 bytes
        ("c", b"55555"),      // 5: value over 4 bytes
        ("a", b"3"),          // a repeated key: the last one wins
    ];
    let report = s.set_many_with(&items, BatchMode::BestEffort).await.unwrap();
    let refused: Vec<(usize, &str)> = report.refused.iter().map(|r| (r.index, r.key.as_str())).collect();
    assert_eq!(refused, vec![(1, ""), (3, "n\0l"), (4, "toolongkey"), (5, "c")]);
    assert!(matches!(report.refused[0].error, Error::EmptyKey));
    assert!(matches!(report.refused[1].error, Error::KeyContainsNul { .. }));
    assert!(matches!(report.refused[2].error, Error::KeyTooLong { .. }));
    assert!(matches!(report.refused[3].error, Error::ValueTooLarge { .. }));
    assert_eq!((report.processed, report.applied), (3, 2));
    assert_eq!(s.get_string("a").await.unwrap().as_deref(), Some("3"));
    assert_eq!(s.get_string("b").await.unwrap().as_deref(), Some("22"));
    assert_eq!(raw_row_count(&s).await, 2);

    // All or nothing: the same batch writes nothing.
    let err = s
        .set_many_with(&[("d", &b"1"[..]), ("", b"x")], BatchMode::AllOrNothing)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::EmptyKey));
    assert_eq!(s.get("d").await.unwrap(), None);
    let report = s
        .set_many_with(&[("d", "1"), ("e", "2")], BatchMode::AllOrNothing)
        .await
        .unwrap();
    assert_eq!(
        (report.processed, report.applied, report.refused.len()),
        (2, 2, 0)
    );
    // Nothing valid: nothing sent, nothing written.
    let report = s
        .set_many_with(&[("", "x")], BatchMode::BestEffort)
        .await
        .unwrap();
    assert_eq!(
        (report.processed, report.applied, report.refused.len()),
        (0, 0, 1)
    );
}

#[tokio::test]
async fn get_many_modes() {
    let s = store_with("bm_get", |c| c.max_key_length(8)).await;
    s.set_many(&[("a", "1"), ("b", "2")]).await.unwrap();
    let got = s
        .get_many_with(&["b", "a", "b"], BatchMode::AllOrNothing)
        .await
        .unwrap();
    assert_eq!(
        got.values,
        vec![Some(b"2".to_vec()), Some(b"1".to_vec()), Some(b"2".to_vec())]
    );
    let err = s
        .get_many_with(&["a", "zz", "b"], BatchMode::AllOrNothing)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { key } if key == "zz"));
    assert!(matches!(
        s.get_many_with(&["a", ""], BatchMode::AllOrNothing).await,
        Err(Error::EmptyKey)
    ));
    let got = s
        .get_many_with(&["a", "", "zz", "toolongkey", "b"], BatchMode::BestEffort)
        .await
        .unwrap();
    assert_eq!(
        got.values,
        vec![Some(b"1".to_vec()), None, None, None, Some(b"2".to_vec())]
    );
    let refused: Vec<usize> = got.refused.iter().map(|r| r.index).collect();
    assert_eq!(refused, vec![1, 3]);
}

#[tokio::test]
async fn delete_many_modes() {
    let s = store_with("bm_del", |c| c.max_key_length(8)).await;
    s.set_many(&[("a", "1"), ("b", "2"), ("c", "3")]).await.unwrap();
    let report = s
        .delete_many_with(&["a", "", "zz", "b"], BatchMode::BestEffort)
        .await
        .unwrap();
    assert_eq!((report.processed, report.applied), (3, 2));
    assert_eq!(report.refused.len(), 1);
    assert_eq!(report.refused[0].index, 1);
    assert!(matches!(
        s.delete_many_with(&["c", ""], BatchMode::AllOrNothing).await,
        Err(Error::EmptyKey)
    ));
    assert!(s.exists("c").await.unwrap());
}

/// A namespace limit is checked per statement: a best-effort batch that
/// would pass it writes nothing and reports every item; one that fits is
/// written. In a transaction the refusal aborts it and is the error.
#[tokio::test]
async fn best_effort_against_a_namespace_limit() {
    if pgkv_suite::not_on_citus(
        "batch_modes::best_effort_against_a_namespace_limit",
        "namespaces are not supported on Citus (Error::UnsupportedOnCitus)",
    ) {
        return;
    }
    let s = pgkv_suite::store("bm_ns").await;
    let n = unique_table("bm_ns");
    let ns = s
        .create_namespace(&n, NamespaceConfig::new().policy(LimitPolicy::Reject).max_keys(3))
        .await
        .unwrap();
    let report = ns
        .set_many_with(&[("a", "1"), ("", "x"), ("b", "2")], BatchMode::BestEffort)
        .await
        .unwrap();
    assert_eq!(
        (report.processed, report.applied, report.refused.len()),
        (2, 2, 1)
    );
    let report = ns
        .set_many_with(&[("c", "3"), ("", "x"), ("d", "4")], BatchMode::BestEffort)
        .await
        .unwrap();
    let refused: Vec<(usize, bool)> = report
        .refused
        .iter()
        .map(|r| {
            (
                r.index,
                matches!(
                    r.error,
                    Error::LimitExceeded {
                        limit: "max_keys",
                        max: 3,
                        ..
                    }
                ),
            )
        })
        .collect();
    assert_eq!(refused, vec![(0, true), (1, false), (2, true)]);
    assert_eq!((report.processed, report.applied), (0, 0));
    assert_eq!(ns.get("c").await.unwrap(), None);
    let mut tx = ns.begin().await.unwrap();
    let err = tx
        .set_many_with(&[("c", "3"), ("d", "4")], BatchMode::BestEffort)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::LimitExceeded { .. }), "{err:?}");
    assert!(matches!(tx.commit().await, Err(Error::TransactionAborted)));
    s.delete_namespace(&n).await.unwrap();
}
