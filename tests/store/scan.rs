//! Prefix scans: literal prefixes, byte order, keyset pagination, index use.

use pgkv::{KeyValue, ScanOptions};
use pgkv_suite::store;

#[tokio::test]
async fn prefixes_are_literal() {
    let s = store("scan_literal").await;
    let keys = ["a%b", "a%c", "axb", "a_b", "a_c", "aXb", "a\\b", "a\\c", "ab"];
    for k in keys {
        s.set(k, k).await.unwrap();
    }
    let got = |p: &'static str| {
        let s = s.clone();
        async move { s.keys(ScanOptions::new().prefix(p)).await.unwrap() }
    };
    assert_eq!(got("a%").await, vec!["a%b", "a%c"]);
    assert_eq!(got("a_").await, vec!["a_b", "a_c"]);
    assert_eq!(got("a\\").await, vec!["a\\b", "a\\c"]);
    assert_eq!(got("").await.len(), keys.len());
    assert_eq!(s.count(ScanOptions::new().prefix("a_")).await.unwrap(), 2);
    assert_eq!(s.delete_prefix("a%").await.unwrap(), 2);
    assert_eq!(got("a").await.len(), keys.len() - 2);
}

#[tokio::test]
async fn keys_come_in_byte_order() {
    let s = store("scan_order").await;
    // Byte order, not a locale's: uppercase before lowercase, é (C3 A9) after z,
    // U+10FFFF (F4 8F BF BF) last.
    let mut keys = vec![
        "b",
        "B",
        "a",
        "é",
        "z",
        "Z",
        "aa",
        "a b",
        "\u{10FFFF}",
        "\u{E000}",
        "~",
    ];
    for k in &keys {
        s.set(k, "v").await.unwrap();
    }
    keys.sort_by(|x, y| x.as_bytes().cmp(y.as_bytes()));
    assert_eq!(s.keys(ScanOptions::new()).await.unwrap(), keys);
    let scanned: Vec<String> = s
        .scan(ScanOptions::new())
        .await
        .unwrap()
        .into_iter()
        .map(|kv| kv.key)
        .collect();
    assert_eq!(scanned, keys);
}

#[tokio::test]
async fn prefix_ending_in_the_last_code_point() {
    let s = store("scan_maxchar").await;
    let p = "p\u{10FFFF}";
    for k in [
        p.to_string(),
        format!("{p}a"),
        format!("{p}\u{10FFFF}"),
        "p".into(),
        "q".into(),
        "p\u{10FFFE}".into(),
    ] {
        s.set(&k, "v").await.unwrap();
    }
    let got = s.keys(ScanOptions::new().prefix(p)).await.unwrap();
    assert_eq!(
        got,
        vec![p.to_string(), format!("{p}a"), format!("{p}\u{10FFFF}")]
    );
    let all_max = s.keys(ScanOptions::new().prefix("\u{10FFFF}")).await.unwrap();
    assert!(all_max.is_empty());
    s.set("\u{10FFFF}\u{10FFFF}x", "v").await.unwrap();
    assert_eq!(
        s.keys(ScanOptions::new().prefix("\u{10FFFF}"))
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn pagination_with_after_limit_and_offset() {
    let s = store("scan_pages").await;
    let items: Vec<(String, String)> = (0..25)
        .map(|i| (format!("user:{i:03}"), format!("v{i}")))
        .collect();
    s.set_many(&items).await.unwrap();
    s.set("other", "x").await.unwrap();
    s.set("user;", "x").await.unwrap();

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut opts = ScanOptions::new().prefix("user:").limit(10);
        if let Some(a) = &after {
            opts = opts.after(a);
        }
        let page = s.scan(opts).await.unwrap();
        if page.is_empty() {
            break;
        }
        after = Some(page.last().unwrap().key.clone());
        seen.extend(page);
    }
    let want: Vec<KeyValue> = items
        .iter()
        .map(|(k, v)| KeyValue {
            key: k.clone(),
            value: v.clone().into_bytes(),
        })
        .collect();
    assert_eq!(seen, want);

    let page = s
        .keys(ScanOptions::new().prefix("user:").offset(20).limit(100))
        .await
        .unwrap();
    assert_eq!(page.len(), 5);
    // `after` before the prefix range does not widen it.
    let page = s
        .keys(ScanOptions::new().prefix("user:").after("a").limit(1))
        .await
        .unwrap();
    assert_eq!(page, vec!["user:000"]);
    // `after` past the range gives nothing.
    assert!(
        s.keys(ScanOptions::new().prefix("user:").after("user;"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.keys(ScanOptions::new().limit(0)).await.unwrap().len(), 0);
    // count ignores limit, offset and after.
    let n = s
        .count(
            ScanOptions::new()
                .prefix("user:")
                .limit(1)
                .offset(3)
                .after("user:010"),
        )
        .await
        .unwrap();
    assert_eq!(n, 25);
}

#[tokio::test]
async fn a_prefix_page_reads_the_primary_key_index() {
    let s = store("scan_explain").await;
    let items: Vec<(String, &str)> = (0..20_000).map(|i| (format!("k:{:05}", i), "v")).collect();
    s.set_many(&items).await.unwrap();
    let table = pgkv_suite::table_of(&s);
    sqlx::query(sqlx::AssertSqlSafe(format!("ANALYZE {table}")))
        .execute(s.pool())
        .await
        .unwrap();
    for opts in [
        ScanOptions::new().prefix("k:01").limit(100),
        ScanOptions::new().prefix("k:01").after("k:0150").limit(100),
        ScanOptions::new().prefix("k:").limit(100),
    ] {
        let plan = s.explain_keys(opts.clone()).await.unwrap();
        assert!(
            plan.contains("_pkey"),
            "no primary key index for {opts:?}:\n{plan}"
        );
        assert!(!plan.contains("Seq Scan"), "{plan}");
        assert!(!plan.to_lowercase().contains("like"), "{plan}");
    }
}
