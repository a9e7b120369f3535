//! Prefix scans: literal prefixes, byte order, keyset pagination, index use.

use pgkv::{KeyValue, ScanOptions, Store};
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

/// A store holding `k:00000` to `k:19999`, analyzed, so plans are what a
/// real table of that size gets.
async fn twenty_thousand_analyzed_keys(tag: &str) -> Store {
    let s = store(tag).await;
    let items: Vec<(String, &str)> = (0..20_000).map(|i| (format!("k:{:05}", i), "v")).collect();
    s.set_many(&items).await.unwrap();
    let table = pgkv_suite::table_of(&s);
    sqlx::query(sqlx::AssertSqlSafe(format!("ANALYZE {table}")))
        .execute(&pgkv_suite::admin(&s))
        .await
        .unwrap();
    s
}

/// Asserts that `keys(opts)` reads a range of the primary key index.
/// On Citus the plan shown is one shard's (1/32 of the rows, a few pages),
/// whose planner may rightly read the shard whole: there what must hold is
/// that the key range reached the shard, as an index condition or a filter.
async fn assert_reads_the_primary_key_index(s: &Store, opts: ScanOptions) {
    let plan = s.explain_keys(opts.clone()).await.unwrap();
    let on_a_small_shard =
        pgkv_suite::through_citus() && plan.contains("(key >= '") && plan.contains("(key < '");
    assert!(
        (plan.contains("Index") && plan.contains("_pkey")) || on_a_small_shard,
        "no primary key index for {opts:?}:\n{plan}"
    );
    if on_a_small_shard {
        return;
    }
    assert!(!plan.contains("Seq Scan"), "{plan}");
    assert!(!plan.to_lowercase().contains("like"), "{plan}");
}

#[tokio::test]
async fn a_prefix_page_reads_the_primary_key_index() {
    let s = twenty_thousand_analyzed_keys("scan_explain").await;
    for opts in [
        ScanOptions::new().prefix("k:01").limit(100),
        ScanOptions::new().prefix("k:01").after("k:0150").limit(100),
        ScanOptions::new().prefix("k:").limit(100),
    ] {
        assert_reads_the_primary_key_index(&s, opts).await;
    }
}

/// `ScanOptions::pattern`: Redis's glob syntax, checked against a port of
/// Redis's `stringmatchlen` over generated keys and patterns.
mod pattern {
    use pgkv::{Error, ScanOptions, Store};
    use pgkv_suite::{XorShift, store};

    /// The keys of `opts`, all of them.
    async fn keys(s: &Store, opts: ScanOptions) -> Vec<String> {
        s.keys(opts).await.unwrap()
    }

    /// Asserts that `glob` selects exactly `want` (in byte order) with
    /// `keys`, `scan` and `count`.
    async fn assert_selects(s: &Store, glob: &str, want: &[&str]) {
        let opts = ScanOptions::new().pattern(glob);
        assert_eq!(keys(s, opts.clone()).await, want, "keys of {glob:?}");
        let scanned: Vec<String> = s
            .scan(opts.clone())
            .await
            .unwrap()
            .into_iter()
            .map(|kv| {
                assert_eq!(kv.value, kv.key.as_bytes(), "the value of {:?}", kv.key);
                kv.key
            })
            .collect();
        assert_eq!(scanned, want, "scan of {glob:?}");
        assert_eq!(
            s.count(opts).await.unwrap(),
            want.len() as u64,
            "count of {glob:?}"
        );
    }

    /// The keys of `fixed_store`, each its own value, in byte order.
    const FIXED_KEYS: &[&str] = &[
        "a$c",
        "a%c",
        "a(c",
        "a*c",
        "a+c",
        "a-c",
        "a.c",
        "a?c",
        "a[c",
        "a\\c",
        "a]c",
        "a^c",
        "a_c",
        "abc",
        "abcd",
        "ac",
        "a{c",
        "a|c",
        "cafe",
        "café",
        "caf日",
        "user:",
        "user:1",
        "user:12",
        "user:1:cart",
        "user:2",
        "user:22:cart",
        "user:a",
        "user:x:cart:old",
        "usr:1",
        "é",
        "日",
        "日本",
    ];

    async fn fixed_store(tag: &str) -> Store {
        let s = store(tag).await;
        assert!(FIXED_KEYS.is_sorted_by_key(|k| k.as_bytes()));
        let items: Vec<(&str, &str)> = FIXED_KEYS.iter().map(|k| (*k, *k)).collect();
        s.set_many(&items).await.unwrap();
        s
    }

    #[tokio::test]
    async fn wildcards() {
        let s = fixed_store("glob_wild").await;
        // The eight keys from "user:" to "user:x:cart:old", in byte order.
        let users = &FIXED_KEYS[21..29];
        assert_eq!((users[0], users[7]), ("user:", "user:x:cart:old"));
        assert_selects(&s, "user:*", users).await;
        assert_selects(&s, "user:**", users).await;
        assert_selects(&s, "user:?", &["user:1", "user:2", "user:a"]).await;
        assert_selects(&s, "user:??", &["user:12"]).await;
        assert_selects(&s, "user:*:cart", &["user:1:cart", "user:22:cart"]).await;
        assert_selects(
            &s,
            "user:*:cart*",
            &["user:1:cart", "user:22:cart", "user:x:cart:old"],
        )
        .await;
        assert_selects(&s, "*:cart", &["user:1:cart", "user:22:cart"]).await;
        assert_selects(&s, "u*r:1", &["user:1", "usr:1"]).await;
        assert_selects(&s, "*", FIXED_KEYS).await;
        // Without wildcards a pattern is one exact key, not a prefix.
        assert_selects(&s, "abc", &["abc"]).await;
        assert_selects(&s, "user", &[]).await;
        assert_selects(&s, "", &[]).await;
    }

    #[tokio::test]
    async fn regex_and_like_specials_are_literal() {
        let s = fixed_store("glob_specials").await;
        for key in [
            "a.c", "a+c", "a(c", "a|c", "a$c", "a^c", "a{c", "a%c", "a_c", "a-c",
        ] {
            assert_selects(&s, key, &[key]).await;
        }
        let three = [
            "a$c", "a%c", "a(c", "a*c", "a+c", "a-c", "a.c", "a?c", "a[c", "a\\c", "a]c", "a^c", "a_c",
            "abc", "a{c", "a|c",
        ];
        assert_selects(&s, "a?c", &three).await;
        assert_selects(&s, "a[^]c", &three).await;
        assert_selects(&s, "a%", &[]).await;
        assert_selects(&s, "a_", &[]).await;
        assert_selects(&s, "a.*", &["a.c"]).await;
    }

    #[tokio::test]
    async fn escapes() {
        let s = fixed_store("glob_escapes").await;
        assert_selects(&s, "a\\*c", &["a*c"]).await;
        assert_selects(&s, "a\\?c", &["a?c"]).await;
        assert_selects(&s, "a\\[c", &["a[c"]).await;
        assert_selects(&s, "a\\]c", &["a]c"]).await;
        assert_selects(&s, "a\\\\c", &["a\\c"]).await;
        // An escaped letter is the letter.
        assert_selects(&s, "\\a\\b\\c", &["abc"]).await;
        // Escaped wildcards stay in the literal prefix: `a*` is the range here.
        assert_selects(&s, "a\\**", &["a*c"]).await;
    }

    #[tokio::test]
    async fn classes() {
        let s = fixed_store("glob_classes").await;
        assert_selects(&s, "user:[12]", &["user:1", "user:2"]).await;
        assert_selects(&s, "user:[0-9]", &["user:1", "user:2"]).await;
        assert_selects(&s, "user:[9-0]", &["user:1", "user:2"]).await;
        assert_selects(&s, "user:[a-z0-9]", &["user:1", "user:2", "user:a"]).await;
        assert_selects(
            &s,
            "user:[0-9]*",
            &["user:1", "user:12", "user:1:cart", "user:2", "user:22:cart"],
        )
        .await;
        assert_selects(&s, "user:[^0-9]", &["user:a"]).await;
        assert_selects(&s, "user:[!0-9]", &["user:a"]).await;
        assert_selects(&s, "a[.+]c", &["a+c", "a.c"]).await;
        assert_selects(&s, "a[$^|{]c", &["a$c", "a^c", "a{c", "a|c"]).await;
        assert_selects(&s, "a[%_]c", &["a%c", "a_c"]).await;
        assert_selects(&s, "a[\\]]c", &["a]c"]).await;
        assert_selects(&s, "a[\\]\\[]c", &["a[c", "a]c"]).await;
        assert_selects(&s, "a[\\\\*]c", &["a*c", "a\\c"]).await;
        // `-` first, escaped, or last before an escaped `]`: itself.
        assert_selects(&s, "a[-b]c", &["a-c", "abc"]).await;
        assert_selects(&s, "a[b\\-]c", &["a-c", "abc"]).await;
        assert_selects(&s, "a[\\]-]c", &["a-c", "a]c"]).await;
        // `^` not first: itself.
        assert_selects(&s, "a[$^]c", &["a$c", "a^c"]).await;
        // A range of code points: `[*-.]` is `*+,-.`.
        assert_selects(&s, "a[*-.]c", &["a*c", "a+c", "a-c", "a.c"]).await;
        // `[]` holds nothing: no key, and no statement.
        assert_selects(&s, "a[]c", &[]).await;
        assert_selects(&s, "[]]", &[]).await;
    }

    #[tokio::test]
    async fn characters_not_bytes() {
        let s = fixed_store("glob_unicode").await;
        assert_selects(&s, "caf?", &["cafe", "café", "caf日"]).await;
        assert_selects(&s, "caf[^e]", &["café", "caf日"]).await;
        assert_selects(&s, "caf[a-é]", &["cafe", "café"]).await;
        assert_selects(&s, "caf[é日]", &["café", "caf日"]).await;
        assert_selects(&s, "?", &["é", "日"]).await;
        assert_selects(&s, "日*", &["日", "日本"]).await;
        assert_selects(&s, "日?", &["日本"]).await;
        assert_selects(&s, "[^a-z]*", &["é", "日", "日本"]).await;
    }

    #[tokio::test]
    async fn a_pattern_within_a_prefix() {
        let s = fixed_store("glob_prefix").await;
        let both = |prefix: &str, glob: &str| ScanOptions::new().prefix(prefix).pattern(glob);
        assert_eq!(
            keys(&s, both("user:1", "user:*")).await,
            ["user:1", "user:12", "user:1:cart"]
        );
        assert_eq!(
            keys(&s, both("user:", "user:?")).await,
            ["user:1", "user:2", "user:a"]
        );
        assert_eq!(
            keys(&s, both("user:", "*:cart")).await,
            ["user:1:cart", "user:22:cart"]
        );
        assert_eq!(keys(&s, both("a", "*c")).await.len(), 17);
        // The two prefixes disagree: nothing, without a statement.
        assert!(keys(&s, both("user:", "usr:*")).await.is_empty());
        assert_eq!(s.count(both("user:", "usr:*")).await.unwrap(), 0);
        let plan = s.explain_keys(both("user:", "usr:*")).await.unwrap();
        assert!(plan.starts_with("No statement"), "{plan}");
    }

    #[tokio::test]
    async fn invalid_patterns_are_refused_before_any_sql() {
        let s = fixed_store("glob_invalid").await;
        // Closed: any statement would fail with `Closed` instead.
        s.close().await;
        for glob in ["[", "a[bc", "[^", "[!", "a\\", "[\\]", "a[b-]c"] {
            let refused = |e: Error| match e {
                Error::InvalidPattern { pattern, reason } => {
                    assert_eq!(pattern, glob);
                    assert!(!reason.is_empty());
                }
                other => panic!("{glob:?}: {other:?}"),
            };
            let opts = ScanOptions::new().pattern(glob);
            refused(s.keys(opts.clone()).await.unwrap_err());
            refused(s.scan(opts.clone()).await.unwrap_err());
            refused(s.count(opts.clone()).await.unwrap_err());
            refused(s.explain_keys(opts).await.unwrap_err());
        }
        let err = s.keys(ScanOptions::new().pattern("a\0*")).await.unwrap_err();
        assert!(matches!(err, Error::KeyContainsNul { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn a_pattern_with_a_literal_start_reads_an_index_range() {
        let s = super::twenty_thousand_analyzed_keys("glob_explain").await;
        for opts in [
            ScanOptions::new().pattern("k:01??7").limit(100),
            ScanOptions::new().pattern("k:01*[37]").after("k:0150").limit(100),
            ScanOptions::new().pattern("k:0[0-1]*").limit(100),
        ] {
            super::assert_reads_the_primary_key_index(&s, opts).await;
        }
        let page = keys(&s, ScanOptions::new().pattern("k:01??7").limit(3)).await;
        assert_eq!(page, ["k:01007", "k:01017", "k:01027"]);
        assert_eq!(s.count(ScanOptions::new().pattern("k:01??7")).await.unwrap(), 100);
    }

    // --- the reference: Redis's stringmatchlen, on characters --------------

    /// Redis's `stringmatchlen` (util.c, without `nocase`), ported to
    /// characters, with pgkv's one change: `[!...]` negates as `[^...]`.
    /// Only for patterns `redis_valid` accepts.
    fn redis_match(mut p: &[char], mut s: &[char]) -> bool {
        while !p.is_empty() && !s.is_empty() {
            match p[0] {
                '*' => {
                    while p.len() > 1 && p[1] == '*' {
                        p = &p[1..];
                    }
                    if p.len() == 1 {
                        return true;
                    }
                    return (0..s.len()).any(|i| redis_match(&p[1..], &s[i..]));
                }
                '?' => s = &s[1..],
                '[' => {
                    p = &p[1..];
                    let not = matches!(p.first(), Some('^' | '!'));
                    if not {
                        p = &p[1..];
                    }
                    let mut matched = false;
                    loop {
                        if p.len() >= 2 && p[0] == '\\' {
                            p = &p[1..];
                            matched |= p[0] == s[0];
                        } else if p[0] == ']' {
                            break;
                        } else if p.len() >= 3 && p[1] == '-' {
                            let (start, end) = (p[0].min(p[2]), p[0].max(p[2]));
                            p = &p[2..];
                            matched |= start <= s[0] && s[0] <= end;
                        } else {
                            matched |= p[0] == s[0];
                        }
                        p = &p[1..];
                    }
                    if matched == not {
                        return false;
                    }
                    s = &s[1..];
                }
                '\\' if p.len() >= 2 => {
                    p = &p[1..];
                    if p[0] != s[0] {
                        return false;
                    }
                    s = &s[1..];
                }
                c => {
                    if c != s[0] {
                        return false;
                    }
                    s = &s[1..];
                }
            }
            p = &p[1..];
            if s.is_empty() {
                while p.first() == Some(&'*') {
                    p = &p[1..];
                }
                break;
            }
        }
        p.is_empty() && s.is_empty()
    }

    /// False for what Redis reads past the end of: an unterminated class
    /// or a trailing backslash.
    fn redis_valid(p: &[char]) -> bool {
        let mut i = 0;
        while i < p.len() {
            match p[i] {
                '\\' if i + 1 == p.len() => return false,
                '\\' => i += 2,
                '[' => {
                    i += 1;
                    if matches!(p.get(i), Some('^' | '!')) {
                        i += 1;
                    }
                    loop {
                        match p.get(i) {
                            None => return false,
                            Some(']') => break,
                            Some('\\') if i + 1 < p.len() => i += 2,
                            Some(_) if i + 2 < p.len() && p[i + 1] == '-' => i += 3,
                            Some(_) => i += 1,
                        }
                    }
                    i += 1;
                }
                _ => i += 1,
            }
        }
        true
    }

    #[test]
    fn the_reference_reads_patterns_as_redis_does() {
        let m = |p: &str, s: &str| {
            let (p, s): (Vec<char>, Vec<char>) = (p.chars().collect(), s.chars().collect());
            assert!(redis_valid(&p));
            redis_match(&p, &s)
        };
        assert!(m("h?llo", "hello") && m("h*llo", "heeeello") && m("h[ae]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello") && m("h[a-b]llo", "hbllo") && !m("h[a-b]llo", "hcllo"));
        // Redis's `*` needs a character to start on (`KEYS *` and `SCAN` special-case
        // the lone `*`); keys are never empty, so it never shows.
        assert!(
            !m("*", "") && m("*", "x") && m("a*", "a") && !m("", "a") && m("[^]", "x") && !m("a[]", "ab")
        );
        assert!(m("[\\]x-]]", "^") && m("a\\*", "a*") && !m("a\\*", "ab"));
        for invalid in ["[", "a\\", "[\\]", "[a-]"] {
            assert!(!redis_valid(&invalid.chars().collect::<Vec<_>>()), "{invalid:?}");
        }
    }

    const KEY_CHARS: &[char] = &[
        'a', 'b', 'c', 'x', '.', '*', '?', '[', ']', '\\', '-', '^', '!', '%', '_', '$', '(', '|', '{', ':',
        ' ', '\n', 'é', '日',
    ];

    fn random_key(rng: &mut XorShift) -> String {
        let len = 1 + rng.below(6);
        // Mostly from a few letters, so that literal prefixes select something.
        (0..len)
            .map(|_| {
                if rng.below(2) == 0 {
                    ['a', 'b', 'c'][rng.below(3)]
                } else {
                    KEY_CHARS[rng.below(KEY_CHARS.len())]
                }
            })
            .collect()
    }

    /// A character of a pattern, escaped where it would be a wildcard.
    fn literal(rng: &mut XorShift, out: &mut String) {
        let c = if rng.below(2) == 0 {
            ['a', 'b', 'c'][rng.below(3)]
        } else {
            KEY_CHARS[rng.below(KEY_CHARS.len())]
        };
        if matches!(c, '*' | '?' | '[' | '\\') || (c == ']' && rng.below(2) == 0) {
            out.push('\\');
        }
        out.push(c);
    }

    fn random_pattern(rng: &mut XorShift) -> String {
        let mut p = String::new();
        if rng.below(4) == 0 {
            // Raw characters: whatever they make, invalid patterns included.
            let raw = ['a', 'b', '*', '?', '[', ']', '\\', '-', '^', '!', 'é', '日'];
            for _ in 0..1 + rng.below(7) {
                p.push(raw[rng.below(raw.len())]);
            }
            return p;
        }
        for _ in 0..rng.below(3) {
            literal(rng, &mut p);
        }
        for _ in 0..1 + rng.below(4) {
            match rng.below(6) {
                0 | 1 => p.push('*'),
                2 => p.push('?'),
                3 => {
                    p.push('[');
                    match rng.below(4) {
                        0 => p.push('^'),
                        1 => p.push('!'),
                        _ => {}
                    }
                    for _ in 0..rng.below(4) {
                        if rng.below(3) == 0 {
                            let ends = ['a', 'c', '-', '.', '[', '^', 'é', '日', ' '];
                            p.push(ends[rng.below(ends.len())]);
                            p.push('-');
                            p.push(ends[rng.below(ends.len())]);
                        } else {
                            let c = KEY_CHARS[rng.below(KEY_CHARS.len())];
                            if matches!(c, ']' | '\\') || rng.below(5) == 0 {
                                p.push('\\');
                            }
                            p.push(c);
                        }
                    }
                    p.push(']');
                }
                _ => literal(rng, &mut p),
            }
        }
        p
    }

    #[tokio::test]
    async fn agrees_with_redis_stringmatchlen() {
        let s = store("glob_reference").await;
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut all: Vec<String> = (0..400).map(|_| random_key(&mut rng)).collect();
        all.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        all.dedup();
        let items: Vec<(&str, &str)> = all.iter().map(|k| (k.as_str(), "v")).collect();
        s.set_many(&items).await.unwrap();
        let prefixes = ["", "", "a", "ab", "b"];

        let (mut checked, mut nonempty, mut refused) = (0, 0, 0);
        for round in 0..300 {
            let glob = random_pattern(&mut rng);
            let prefix = prefixes[rng.below(prefixes.len())];
            let opts = ScanOptions::new().prefix(prefix).pattern(&glob);
            let chars: Vec<char> = glob.chars().collect();
            if !redis_valid(&chars) {
                let err = s.keys(opts).await.unwrap_err();
                assert!(matches!(err, Error::InvalidPattern { .. }), "{glob:?}: {err:?}");
                refused += 1;
                continue;
            }
            let want: Vec<String> = all
                .iter()
                .filter(|k| k.starts_with(prefix) && redis_match(&chars, &k.chars().collect::<Vec<_>>()))
                .cloned()
                .collect();
            assert_eq!(
                keys(&s, opts.clone()).await,
                want,
                "prefix {prefix:?}, pattern {glob:?}"
            );
            assert_eq!(
                s.count(opts.clone()).await.unwrap(),
                want.len() as u64,
                "count of {glob:?}"
            );
            if round % 10 == 0 {
                // Keyset pages of a few matches: every match once, in order.
                let limit = 1 + rng.below_u64(4);
                let mut paged: Vec<String> = Vec::new();
                loop {
                    let mut page_opts = opts.clone().limit(limit);
                    if let Some(last) = paged.last() {
                        page_opts = page_opts.after(last);
                    }
                    let page = keys(&s, page_opts).await;
                    assert!(page.len() as u64 <= limit);
                    if page.is_empty() {
                        break;
                    }
                    paged.extend(page);
                }
                assert_eq!(paged, want, "pages of {limit} for {glob:?}");
            }
            checked += 1;
            nonempty += usize::from(!want.is_empty());
        }
        // The generator reaches every outcome often enough to mean something.
        assert!(
            checked >= 150 && nonempty >= 60 && refused >= 10,
            "{checked} {nonempty} {refused}"
        );
    }

    #[tokio::test]
    async fn pages_of_matches_with_after_and_limit() {
        let s = store("glob_pages").await;
        let items: Vec<(String, String)> = (0..200)
            .map(|i| {
                (
                    format!("order:{i:03}:{}", ["open", "paid", "sent"][i % 3]),
                    format!("v{i}"),
                )
            })
            .collect();
        s.set_many(&items).await.unwrap();
        s.set("order;", "x").await.unwrap();
        s.set("ordex:001:paid", "x").await.unwrap();
        let want: Vec<String> = items
            .iter()
            .map(|(k, _)| k.clone())
            .filter(|k| k.ends_with(":paid") && k.as_bytes()[6] == b'1')
            .collect();
        assert_eq!(want.len(), 34);

        // Pages of 7 matches, each read after the last key of the one before:
        // non-matching keys between matches never shorten a page.
        let glob = "order:1??:paid";
        let mut seen: Vec<String> = Vec::new();
        let mut pages = 0;
        loop {
            let mut opts = ScanOptions::new().pattern(glob).limit(7);
            if let Some(last) = seen.last() {
                opts = opts.after(last);
            }
            let page = s.scan(opts).await.unwrap();
            if page.is_empty() {
                break;
            }
            assert!(
                page.len() == 7 || seen.len() + page.len() == want.len(),
                "a short page"
            );
            pages += 1;
            seen.extend(page.into_iter().map(|kv| kv.key));
        }
        assert_eq!(seen, want);
        assert_eq!(pages, 5);
        // Offset counts matches too.
        let third_page = keys(&s, ScanOptions::new().pattern(glob).offset(14).limit(7)).await;
        assert_eq!(third_page, want[14..21]);
        assert_eq!(s.count(ScanOptions::new().pattern(glob)).await.unwrap(), 34);
        assert_eq!(
            s.count(ScanOptions::new().pattern("order:*:paid")).await.unwrap(),
            67
        );
    }
}

/// `delete_prefix` in batches of `cleanup_batch_size`, and
/// `delete_prefix_atomic`, one statement.
mod delete_prefix_batches {
    use std::time::Duration;

    use pgkv::ScanOptions;
    use pgkv_suite::{force_expire, raw_row_count, store_with, table_of, unique_table};

    /// Logs how many rows each DELETE statement on `s`'s table removed, in
    /// a table of its own, whose name it returns.
    /// `None` on Citus, which refuses triggers on distributed tables (the
    /// rest of the calling test runs).
    async fn log_deletes(s: &pgkv::Store) -> Option<String> {
        if pgkv_suite::not_on_citus(
            "scan::delete_prefix_batches: the per-statement DELETE log",
            "a statement trigger, refused on distributed tables (the rest of the test runs)",
        ) {
            return None;
        }
        let log = unique_table("deletes");
        let table = table_of(s);
        for sql in [
            format!("CREATE TABLE {log} (id serial PRIMARY KEY, n bigint NOT NULL)"),
            format!(
                "CREATE FUNCTION {log}_fn() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN INSERT INTO {log} (n) SELECT count(*) FROM gone; RETURN NULL; END $$"
            ),
            format!(
                "CREATE TRIGGER {log}_tr AFTER DELETE ON {table} REFERENCING OLD TABLE AS gone \
                 FOR EACH STATEMENT EXECUTE FUNCTION {log}_fn()"
            ),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&pgkv_suite::admin(s))
                .await
                .unwrap();
        }
        Some(log)
    }

    /// A store that deletes in batches of `batch` rows, holding `n` keys
    /// `{prefix}00000`, `{prefix}00001` ... valued `v`.
    async fn store_holding(tag: &str, batch: u32, prefix: &str, n: usize) -> pgkv::Store {
        let s = store_with(tag, |c| c.cleanup_batch_size(batch)).await;
        let items: Vec<(String, &str)> = (0..n).map(|i| (format!("{prefix}{i:05}"), "v")).collect();
        s.set_many(&items).await.unwrap();
        s
    }

    /// 25 keys `held:00000` ... and an open transaction that has written
    /// `held:00013` (so holds its row locked until it ends).
    async fn one_row_held(tag: &str) -> (pgkv::Store, pgkv::Transaction) {
        let s = store_holding(tag, 10, "held:", 25).await;
        let mut tx = s.begin().await.unwrap();
        tx.set("held:00013", "mine").await.unwrap();
        (s, tx)
    }

    /// What `log_deletes` logged; with no log (Citus), `want` itself.
    async fn logged(s: &pgkv::Store, log: &Option<String>, want: &[i64]) -> Vec<i64> {
        let Some(log) = log else { return want.to_vec() };
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT n FROM {log} ORDER BY id")))
            .fetch_all(&pgkv_suite::admin(s))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn twelve_thousand_keys_in_batches_of_a_thousand() {
        let s = store_holding("delete_batches", 1000, "big:", 12_000).await;
        // Expired rows go too, uncounted.
        for key in ["big:expired:1", "big:expired:2", "big:expired:3"] {
            s.set(key, "old").await.unwrap();
            force_expire(&s, key).await;
        }
        let outside = ["big", "big;", "bif~", "bih", "a", "big\u{10FFFF}", "BIG:1"];
        for key in outside {
            s.set(key, "keep").await.unwrap();
        }
        let log = log_deletes(&s).await;

        assert_eq!(s.delete_prefix("big:").await.unwrap(), 12_000);

        // One statement per batch of at most 1,000 rows; the short one ends
        // the skipping pass, and the waiting pass finds nothing left.
        let mut batches = vec![1000; 12];
        batches.extend([3, 0]);
        assert_eq!(logged(&s, &log, &batches).await, batches);
        assert_eq!(s.count(ScanOptions::new().prefix("big:")).await.unwrap(), 0);
        let mut left = s.keys(ScanOptions::new()).await.unwrap();
        left.sort();
        let mut want: Vec<String> = outside.iter().map(|k| k.to_string()).collect();
        want.sort();
        assert_eq!(left, want);
        assert_eq!(raw_row_count(&s).await, outside.len() as i64);
        for key in outside {
            assert_eq!(s.get_string(key).await.unwrap().as_deref(), Some("keep"));
        }
        // Nothing left: one short batch, nothing removed.
        assert_eq!(s.delete_prefix("big:").await.unwrap(), 0);
        assert_eq!(logged(&s, &log, &[0]).await.last(), Some(&0));
    }

    #[tokio::test]
    async fn the_atomic_form_is_one_statement() {
        let s = store_holding("delete_atomic", 10, "p:", 95).await;
        s.set("p:expired", "v").await.unwrap();
        force_expire(&s, "p:expired").await;
        s.set("q", "keep").await.unwrap();
        let log = log_deletes(&s).await;
        assert_eq!(s.delete_prefix_atomic("p:").await.unwrap(), 95);
        assert_eq!(logged(&s, &log, &[96]).await, [96]);
        assert_eq!(s.keys(ScanOptions::new()).await.unwrap(), ["q"]);
        let err = s.delete_prefix_atomic("p\0").await.unwrap_err();
        assert!(matches!(err, pgkv::Error::KeyContainsNul { .. }), "{err:?}");
    }

    /// Waits until a session runs a statement on `s`'s table that waits for
    /// a row lock (the event the tests below act on, never a sleep).
    async fn blocked_on_a_row(s: &pgkv::Store) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let sql = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
                   AND pid <> pg_backend_pid() AND strpos(query, $1) > 0";
        loop {
            let n: i64 = sqlx::query_scalar(sql)
                .bind(table_of(s))
                .fetch_one(&pgkv_suite::admin(s))
                .await
                .unwrap();
            if n > 0 {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no statement waited for the held row"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// How a held row ends while `delete_prefix` runs.
    #[derive(Clone, Copy, Debug)]
    enum Holder {
        /// Locked (`SELECT ... FOR UPDATE`), never written, then committed.
        LocksAndCommits,
        /// Written in the holder's transaction, then rolled back.
        WritesAndRollsBack,
        /// Written in the holder's transaction, then committed (written
        /// again meanwhile: the call may leave it or delete it; it deletes it).
        WritesAndCommits,
    }

    /// 25 keys, one of them held by another session while `delete_prefix`
    /// runs: the batches skip it, the last pass waits for it, and when the
    /// call returns the prefix is empty.
    async fn delete_prefix_with_a_held_row(tag: &str, holder: Holder) {
        let s = store_holding(tag, 10, "held:", 25).await;
        let direct = pgkv_suite::admin(&s);
        let mut tx = direct.begin().await.unwrap();
        let lock = match holder {
            Holder::LocksAndCommits => format!(
                "SELECT 1 FROM {} WHERE key = 'held:00013' FOR UPDATE",
                table_of(&s)
            ),
            _ => format!(
                "UPDATE {} SET value = 'mine' WHERE key = 'held:00013'",
                table_of(&s)
            ),
        };
        sqlx::query(sqlx::AssertSqlSafe(lock))
            .execute(&mut *tx)
            .await
            .unwrap();
        let deleting = tokio::spawn({
            let s = s.clone();
            async move { s.delete_prefix("held:").await }
        });
        if !pgkv_suite::through_citus() {
            // On one server the waiting statement is visible; on Citus it
            // waits on a worker (the outcome below is the same either way).
            blocked_on_a_row(&s).await;
            assert_eq!(
                raw_row_count(&s).await,
                1,
                "the skipping batches left only the held row"
            );
        }
        match holder {
            Holder::WritesAndRollsBack => tx.rollback().await.unwrap(),
            _ => tx.commit().await.unwrap(),
        }
        assert_eq!(deleting.await.unwrap().unwrap(), 25, "{holder:?}");
        assert_eq!(raw_row_count(&s).await, 0, "{holder:?}");
    }

    #[tokio::test]
    async fn a_held_row_is_waited_for_and_gone_when_its_holder_commits() {
        delete_prefix_with_a_held_row("delete_held_commit", Holder::LocksAndCommits).await;
    }

    #[tokio::test]
    async fn a_held_row_is_waited_for_and_gone_when_its_holder_rolls_back() {
        delete_prefix_with_a_held_row("delete_held_rollback", Holder::WritesAndRollsBack).await;
    }

    #[tokio::test]
    async fn a_held_row_written_again_is_deleted_after_its_holder_commits() {
        delete_prefix_with_a_held_row("delete_held_rewrite", Holder::WritesAndCommits).await;
    }

    /// A row held past the session's `lock_timeout`: `Error::Timeout`, and
    /// only that row is left.
    #[tokio::test]
    async fn a_row_held_past_lock_timeout_is_a_timeout() {
        if pgkv_suite::not_through_pooler(
            "scan::delete_prefix_batches::a_row_held_past_lock_timeout_is_a_timeout",
            "it sets lock_timeout as a startup option, which PgBouncer refuses",
        ) {
            return;
        }
        let url = pgkv_suite::database_url();
        let sep = if url.contains('?') { '&' } else { '?' };
        if pgkv_suite::not_on_citus(
            "scan::delete_prefix_batches::a_row_held_past_lock_timeout_is_a_timeout",
            "the wait happens on a worker, under the worker session's own settings",
        ) {
            return;
        }
        let config = pgkv::Config::new(format!("{url}{sep}options=-c%20lock_timeout%3D200ms"))
            .table_name(&unique_table("delete_held_timeout"))
            .cleanup_batch_size(10);
        let s = pgkv::Store::with_config(config).await.unwrap();
        let items: Vec<(String, &str)> = (0..25).map(|i| (format!("held:{i:05}"), "v")).collect();
        s.set_many(&items).await.unwrap();
        let direct = pgkv_suite::admin(&s);
        let mut tx = direct.begin().await.unwrap();
        let lock = format!(
            "SELECT 1 FROM {} WHERE key = 'held:00013' FOR UPDATE",
            table_of(&s)
        );
        sqlx::query(sqlx::AssertSqlSafe(lock))
            .execute(&mut *tx)
            .await
            .unwrap();
        let err = s.delete_prefix("held:").await.unwrap_err();
        assert!(matches!(err, pgkv::Error::Timeout { .. }), "{err:?}");
        assert_eq!(raw_row_count(&s).await, 1);
        tx.rollback().await.unwrap();
        assert_eq!(s.delete_prefix("held:").await.unwrap(), 1);
    }

    /// The atomic form waits for the held row instead, then deletes it too.
    #[tokio::test]
    async fn the_atomic_form_waits_for_a_held_row() {
        let (s, tx) = one_row_held("delete_waits").await;
        let deleting = tokio::spawn({
            let s = s.clone();
            async move { s.delete_prefix_atomic("held:").await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !deleting.is_finished(),
            "the atomic form did not wait for the held row"
        );
        assert_eq!(s.count(ScanOptions::new()).await.unwrap(), 25);
        tx.rollback().await.unwrap();
        assert_eq!(deleting.await.unwrap().unwrap(), 25);
        assert_eq!(s.count(ScanOptions::new()).await.unwrap(), 0);
    }

    /// Inside a transaction the batches run in it: its own writes are
    /// deleted, and a rollback brings every key back.
    #[tokio::test]
    async fn inside_a_transaction_the_batches_are_its_own() {
        let s = store_holding("delete_in_tx", 10, "t:", 35).await;

        let mut tx = s.begin().await.unwrap();
        tx.set("t:new", "uncommitted").await.unwrap();
        tx.set("t:00007", "changed").await.unwrap();
        assert_eq!(tx.delete_prefix("t:").await.unwrap(), 36);
        assert!(tx.keys(ScanOptions::new()).await.unwrap().is_empty());
        tx.rollback().await.unwrap();
        assert_eq!(s.count(ScanOptions::new().prefix("t:")).await.unwrap(), 35);

        let mut tx = s.begin().await.unwrap();
        assert_eq!(tx.delete_prefix("t:").await.unwrap(), 35);
        tx.commit().await.unwrap();
        assert_eq!(s.count(ScanOptions::new()).await.unwrap(), 0);
    }
}
