//! `KvCommands`: one trait over every handle, so records, typed values and
//! code of the user's own run the same on a store and inside a transaction.

use std::time::Duration;

use pgkv::{KvCommands, KvRecord, ScanOptions};
use pgkv_suite::store;
use serde::{Deserialize, Serialize};

/// Code generic over where its commands run.
async fn transfer(mut kv: impl KvCommands, from: &str, to: &str, amount: i64) -> pgkv::Result<(i64, i64)> {
    let left = kv.decrement(from, amount).await?;
    let right = kv.increment(to, amount).await?;
    Ok((left, right))
}

#[tokio::test]
async fn generic_code_runs_on_a_store_and_inside_a_transaction() {
    let s = store("cmd_generic").await;
    s.set_many(&[("a", "100"), ("b", "0")]).await.unwrap();
    assert_eq!(transfer(&s, "a", "b", 10).await.unwrap(), (90, 10));
    assert_eq!(transfer(s.clone(), "a", "b", 10).await.unwrap(), (80, 20));

    // Rolled back: nothing of it stays.
    let mut tx = s.begin().await.unwrap();
    assert_eq!(transfer(&mut tx, "a", "b", 50).await.unwrap(), (30, 70));
    tx.rollback().await.unwrap();
    assert_eq!(s.get_string("a").await.unwrap().as_deref(), Some("80"));

    // Committed, through the closure form.
    let moved = s
        .transaction(async |tx| transfer(&mut *tx, "a", "b", 30).await)
        .await
        .unwrap();
    assert_eq!(moved, (50, 50));
    assert_eq!(
        s.get_many(&["a", "b"]).await.unwrap(),
        vec![Some(b"50".to_vec()), Some(b"50".to_vec())]
    );
    // The trait's own methods, called through the trait on a store.
    let mut handle = &s;
    assert_eq!(
        KvCommands::count(&mut handle, ScanOptions::new()).await.unwrap(),
        2
    );
    assert!(KvCommands::delete(&mut handle, "a").await.unwrap());
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, pgkv::KvRecord)]
#[kv(prefix = "order:", ttl = 3600)]
struct Order {
    #[kv(key)]
    id: u32,
    total: u64,
}

#[tokio::test]
async fn records_work_inside_a_transaction() {
    let s = store("cmd_records").await;
    let order = Order { id: 7, total: 1200 };
    let mut tx = s.begin().await.unwrap();
    order.save(&mut tx).await.unwrap();
    // Visible inside, not outside, until commit.
    assert_eq!(Order::get(&mut tx, "7").await.unwrap(), Some(order.clone()));
    assert_eq!(Order::get(&s, "7").await.unwrap(), None);
    tx.commit().await.unwrap();
    assert_eq!(Order::get(&s, "7").await.unwrap(), Some(order.clone()));
    let left = s.ttl("order:7").await.unwrap().expect("the record's TTL");
    assert!(left <= Duration::from_secs(3600) && left > Duration::from_secs(3500));

    // get_del in a rolled-back transaction leaves the record in place.
    let mut tx = s.begin().await.unwrap();
    assert_eq!(Order::get_del(&mut tx, "7").await.unwrap(), Some(order.clone()));
    assert_eq!(Order::get_ex(&mut tx, "7").await.unwrap(), None);
    tx.rollback().await.unwrap();
    assert!(Order::del(&s, "7").await.unwrap());
}

#[tokio::test]
async fn typed_values_work_inside_a_transaction() {
    let s = store("cmd_typed").await;
    let mut tx = s.begin().await.unwrap();
    let mut scores = tx.typed::<Vec<u32>>();
    scores.set("ada", &vec![1, 2, 3]).await.unwrap();
    scores
        .set_many(&[("bob", vec![4]), ("cy", vec![])])
        .await
        .unwrap();
    assert_eq!(
        scores.get_many(&["ada", "nobody", "cy"]).await.unwrap(),
        vec![Some(vec![1, 2, 3]), None, Some(vec![])]
    );
    assert_eq!(scores.get_and_delete("bob").await.unwrap(), Some(vec![4]));
    assert!(scores.delete("cy").await.unwrap());
    scores
        .set_ex("eve", &vec![9], Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        scores.get_ex("eve", Duration::from_secs(120)).await.unwrap(),
        Some(vec![9])
    );
    assert_eq!(s.typed::<Vec<u32>>().get("ada").await.unwrap(), None);
    tx.commit().await.unwrap();
    let outside = s.typed::<Vec<u32>>();
    assert_eq!(outside.get("ada").await.unwrap(), Some(vec![1, 2, 3]));
    assert_eq!(outside.get("bob").await.unwrap(), None);
    assert_eq!(s.count(ScanOptions::new()).await.unwrap(), 2);
}
