use std::time::Duration;

use pgkv::{CasResult, ScanOptions};
use pgkv_suite::{force_expire, store};

#[tokio::test]
async fn smoke_every_method() {
    let s = store("smoke").await;
    s.set("a", "1").await.unwrap();
    assert_eq!(s.get("a").await.unwrap(), Some(b"1".to_vec()));
    assert_eq!(s.get_string("a").await.unwrap().as_deref(), Some("1"));
    assert_eq!(s.get_or_err("a").await.unwrap(), b"1");
    assert!(s.get_or_err("zz").await.unwrap_err().is_not_found());
    assert!(s.exists("a").await.unwrap());
    assert!(!s.set_nx("a", "2").await.unwrap());
    assert!(s.set_nx("b", "2").await.unwrap());
    assert!(s.replace("b", "3").await.unwrap());
    assert!(!s.replace("c", "3").await.unwrap());
    s.set_ex("c", "x", Duration::from_secs(100)).await.unwrap();
    let ttl = s.ttl("c").await.unwrap().unwrap();
    assert!(
        ttl <= Duration::from_secs(100) && ttl > Duration::from_secs(90),
        "{ttl:?}"
    );
    assert!(s.set_nx_ex("d", "x", Duration::from_secs(5)).await.unwrap());
    assert_eq!(
        s.get_ex("d", Duration::from_secs(50)).await.unwrap(),
        Some(b"x".to_vec())
    );
    assert!(s.ttl("d").await.unwrap().unwrap() > Duration::from_secs(40));
    assert!(s.expire("a", Duration::from_secs(10)).await.unwrap());
    assert!(s.persist("a").await.unwrap());
    assert!(!s.persist("a").await.unwrap());
    assert_eq!(s.ttl("a").await.unwrap(), None);
    s.set_many(&[("m1", "1"), ("m2", "2"), ("m1", "3")])
        .await
        .unwrap();
    assert_eq!(
        s.get_many(&["m1", "m2", "nope", "m1"]).await.unwrap(),
        vec![
            Some(b"3".to_vec()),
            Some(b"2".to_vec()),
            None,
            Some(b"3".to_vec())
        ]
    );
    s.set_many_ex(&[("e1", b"1".as_slice())], Duration::from_secs(9))
        .await
        .unwrap();
    assert!(s.ttl("e1").await.unwrap().is_some());
    assert_eq!(s.delete_many(&["m1", "m2", "nope"]).await.unwrap(), 2);
    assert_eq!(s.increment("n", 5).await.unwrap(), 5);
    assert_eq!(s.decrement("n", 2).await.unwrap(), 3);
    assert_eq!(s.get_string("n").await.unwrap().as_deref(), Some("3"));
    assert_eq!(
        s.compare_and_swap("n", Some(b"3"), "4").await.unwrap(),
        CasResult::Success
    );
    assert_eq!(
        s.compare_and_swap("n", Some(b"3"), "5").await.unwrap(),
        CasResult::Mismatch {
            current: Some(b"4".to_vec())
        }
    );
    assert_eq!(
        s.compare_and_swap("q", Some(b"3"), "5").await.unwrap(),
        CasResult::NotFound
    );
    assert_eq!(
        s.compare_and_swap("q", None, "5").await.unwrap(),
        CasResult::Success
    );
    assert_eq!(
        s.compare_and_swap("q", None, "6").await.unwrap(),
        CasResult::Mismatch {
            current: Some(b"5".to_vec())
        }
    );
    assert_eq!(s.get_and_set("q", "7").await.unwrap(), Some(b"5".to_vec()));
    assert_eq!(s.get_and_set("new", "1").await.unwrap(), None);
    assert_eq!(s.get_and_delete("q").await.unwrap(), Some(b"7".to_vec()));
    assert_eq!(s.get_and_delete("q").await.unwrap(), None);
    assert!(s.delete("new").await.unwrap());
    assert!(!s.delete("new").await.unwrap());
    let keys = s.keys(ScanOptions::new()).await.unwrap();
    assert_eq!(keys, vec!["a", "b", "c", "d", "e1", "n"]);
    let page = s.keys(ScanOptions::new().after("b").limit(2)).await.unwrap();
    assert_eq!(page, vec!["c", "d"]);
    assert_eq!(s.count(ScanOptions::new().prefix("e")).await.unwrap(), 1);
    assert_eq!(
        s.scan(ScanOptions::new().prefix("n")).await.unwrap()[0].value,
        b"4"
    );
    force_expire(&s, "c").await;
    assert_eq!(s.get("c").await.unwrap(), None);
    assert_eq!(s.delete_prefix("").await.unwrap(), 5);
    assert_eq!(s.cleanup_expired().await.unwrap(), 0);
    let mut tx = s.begin().await.unwrap();
    tx.set("t", "1").await.unwrap();
    tx.commit().await.unwrap();
    let v = s.transaction(async |tx| tx.get("t").await).await.unwrap();
    assert_eq!(v, Some(b"1".to_vec()));
}
