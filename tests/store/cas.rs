//! compare_and_swap, get_and_set and get_and_delete.

use pgkv::CasResult;
use pgkv_suite::store;

#[tokio::test]
async fn compare_and_swap_outcomes() {
    let s = store("cas").await;
    assert_eq!(
        s.compare_and_swap("k", Some(b"x"), "y").await.unwrap(),
        CasResult::NotFound
    );
    assert_eq!(s.get("k").await.unwrap(), None);
    assert_eq!(
        s.compare_and_swap("k", None, "v1").await.unwrap(),
        CasResult::Success
    );
    assert_eq!(
        s.compare_and_swap("k", None, "v2").await.unwrap(),
        CasResult::Mismatch {
            current: Some(b"v1".to_vec())
        }
    );
    assert_eq!(
        s.compare_and_swap("k", Some(b"nope"), "v2").await.unwrap(),
        CasResult::Mismatch {
            current: Some(b"v1".to_vec())
        }
    );
    assert_eq!(s.get("k").await.unwrap(), Some(b"v1".to_vec()));
    assert_eq!(
        s.compare_and_swap("k", Some(b"v1"), "v2").await.unwrap(),
        CasResult::Success
    );
    assert_eq!(s.get("k").await.unwrap(), Some(b"v2".to_vec()));
    // Binary values compare byte for byte.
    s.set("b", [0u8, 255, 1]).await.unwrap();
    assert_eq!(
        s.compare_and_swap("b", Some(&[0, 255, 1]), [9u8]).await.unwrap(),
        CasResult::Success
    );
    // Empty values are values.
    s.set("e", "").await.unwrap();
    assert_eq!(
        s.compare_and_swap("e", None, "x").await.unwrap(),
        CasResult::Mismatch {
            current: Some(Vec::new())
        }
    );
    assert_eq!(
        s.compare_and_swap("e", Some(b""), "x").await.unwrap(),
        CasResult::Success
    );
}

#[tokio::test]
async fn get_and_set_and_get_and_delete() {
    let s = store("getset").await;
    assert_eq!(s.get_and_set("k", "1").await.unwrap(), None);
    assert_eq!(s.get_and_set("k", "2").await.unwrap(), Some(b"1".to_vec()));
    assert_eq!(s.get_and_delete("k").await.unwrap(), Some(b"2".to_vec()));
    assert!(!s.exists("k").await.unwrap());
    assert_eq!(s.get_and_delete("k").await.unwrap(), None);
}
