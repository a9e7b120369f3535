//! `scan_pages`: a scan as a stream of keyset pages.

use futures_util::TryStreamExt;
use pgkv::{ScanOptions, Store};
use pgkv_suite::store;

/// Every key `scan_pages(opts)` yields, pages joined.
async fn paged_keys(s: &Store, opts: ScanOptions) -> Vec<String> {
    let pages: Vec<Vec<pgkv::KeyValue>> = s.scan_pages(opts).try_collect().await.unwrap();
    pages.into_iter().flatten().map(|kv| kv.key).collect()
}

#[tokio::test]
async fn pages_cover_the_range_once_in_order() {
    let s = store("pages").await;
    let keys: Vec<String> = (0..2_500).map(|i| format!("p:{i:05}")).collect();
    let items: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), "v")).collect();
    s.set_many(&items).await.unwrap();
    s.set_many(&[("o:1", "outside"), ("q:1", "outside")])
        .await
        .unwrap();

    let pages: Vec<Vec<pgkv::KeyValue>> = s
        .scan_pages(ScanOptions::new().prefix("p:"))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [1000, 1000, 500]);
    let seen: Vec<String> = pages.into_iter().flatten().map(|kv| kv.key).collect();
    assert_eq!(seen, keys);

    // A page size that divides the count: the last, empty read ends it.
    let sizes: Vec<usize> = s
        .scan_pages(ScanOptions::new().prefix("p:").limit(500))
        .map_ok(|page| page.len())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(sizes, [500; 5]);

    // Offset on the first page only; after and pattern as in scan.
    let first_keys = paged_keys(
        &s,
        ScanOptions::new()
            .prefix("p:")
            .limit(1000)
            .offset(10)
            .after("p:00999"),
    )
    .await;
    assert_eq!(first_keys, keys[1010..].to_vec());
    let matching = paged_keys(&s, ScanOptions::new().pattern("p:0?0?7").limit(7)).await;
    let want: Vec<String> = keys
        .iter()
        .filter(|k| k.as_bytes()[2] == b'0' && k.as_bytes()[4] == b'0' && k.ends_with('7'))
        .cloned()
        .collect();
    assert_eq!(matching, want);
    assert!(!want.is_empty());
}
