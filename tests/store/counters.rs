//! increment/decrement follow Redis: strict decimal text, no overflow, value
//! unchanged on error.

use std::time::Duration;

use pgkv::Error;
use pgkv_suite::store;

#[tokio::test]
async fn counts_from_zero_and_stores_decimal_text() {
    let s = store("ctr_basic").await;
    assert_eq!(s.increment("c", 1).await.unwrap(), 1);
    assert_eq!(s.increment("c", 41).await.unwrap(), 42);
    assert_eq!(s.decrement("c", 50).await.unwrap(), -8);
    assert_eq!(s.get_string("c").await.unwrap().as_deref(), Some("-8"));
    assert_eq!(s.increment("c", 0).await.unwrap(), -8);
    s.set("d", "0").await.unwrap();
    assert_eq!(s.increment("d", -1).await.unwrap(), -1);
    s.set("e", "-9223372036854775808").await.unwrap();
    assert_eq!(s.increment("e", 1).await.unwrap(), i64::MIN + 1);
}

#[tokio::test]
async fn rejects_anything_but_strict_integers_and_leaves_the_value() {
    let s = store("ctr_strict").await;
    let bad: [&[u8]; 18] = [
        // What Redis refuses too (checked against redis-server 7.0.15's
        // "value is not an integer or out of range"): no sign on zero, no
        // leading zeros.
        b"-0",
        b"00",
        b"007",
        b"-007",
        b"000000000000000000001",
        b"",
        b" 5",
        b"5 ",
        b"+5",
        b"1e3",
        b"5.0",
        b"abc",
        b"--1",
        b"0x10",
        b"5\n",
        "٣".as_bytes(),
        b"\xff",
        b"1\x002",
    ];
    for value in bad {
        s.set("k", value).await.unwrap();
        for result in [s.increment("k", 1).await, s.decrement("k", 1).await] {
            match result {
                Err(Error::NotAnInteger { key }) => assert_eq!(key, "k"),
                other => panic!("{value:?}: expected NotAnInteger, got {other:?}"),
            }
        }
        assert_eq!(s.get("k").await.unwrap().as_deref(), Some(value), "value changed");
    }
}

#[tokio::test]
async fn overflow_is_an_error_and_leaves_the_value() {
    let s = store("ctr_overflow").await;
    s.set("max", i64::MAX.to_string()).await.unwrap();
    assert!(matches!(s.increment("max", 1).await, Err(Error::Overflow { .. })));
    assert_eq!(s.get_string("max").await.unwrap(), Some(i64::MAX.to_string()));
    s.set("min", i64::MIN.to_string()).await.unwrap();
    assert!(matches!(s.decrement("min", 1).await, Err(Error::Overflow { .. })));
    assert_eq!(s.increment("min", 1).await.unwrap(), i64::MIN + 1);
    // As in Redis, decrementing by i64::MIN is refused whatever the value.
    s.set("m1", "-1").await.unwrap();
    assert!(matches!(
        s.decrement("m1", i64::MIN).await,
        Err(Error::Overflow { .. })
    ));
    assert_eq!(s.get_string("m1").await.unwrap().as_deref(), Some("-1"));
    assert!(matches!(
        s.decrement("absent", i64::MIN).await,
        Err(Error::Overflow { .. })
    ));
    assert_eq!(s.get("absent").await.unwrap(), None);
    // Out of range on the way in.
    s.set("huge", "9223372036854775808").await.unwrap();
    assert!(s.increment("huge", 0).await.is_err());
    assert_eq!(
        s.get_string("huge").await.unwrap().as_deref(),
        Some("9223372036854775808")
    );
    assert_eq!(s.increment("new", i64::MIN).await.unwrap(), i64::MIN);
}

#[tokio::test]
async fn keeps_the_ttl() {
    let s = store("ctr_ttl").await;
    s.set_ex("rate:ip", "0", Duration::from_secs(60)).await.unwrap();
    assert_eq!(s.increment("rate:ip", 1).await.unwrap(), 1);
    let ttl = s.ttl("rate:ip").await.unwrap().expect("TTL kept");
    assert!(ttl > Duration::from_secs(50));
}

#[tokio::test]
async fn increment_float_is_exact_decimal_arithmetic() {
    let s = store("ctr_float").await;
    assert_eq!(s.increment_float("f", 2.5).await.unwrap(), 2.5);
    assert_eq!(s.get_string("f").await.unwrap().as_deref(), Some("2.5"));
    // (stored, by, stored after): Redis agrees except where its long double
    // shows (1e3 + 0.1 is 1000.09999999999999998 there).
    for (before, by, after) in [
        ("10.5", 0.1, "10.6"),
        ("0.1", 0.2, "0.3"),
        ("3", -3.0, "0"),
        ("-0", 0.1, "0.1"),
        ("1e3", 0.1, "1000.1"),
        (".5", 0.1, "0.6"),
        ("5.", 0.1, "5.1"),
        ("+1", 0.1, "1.1"),
        ("7", 1e-7, "7.0000001"),
    ] {
        s.set("f", before).await.unwrap();
        let got = s.increment_float("f", by).await.unwrap();
        assert_eq!(
            s.get_string("f").await.unwrap().as_deref(),
            Some(after),
            "{before} + {by}"
        );
        assert_eq!(got, after.parse::<f64>().unwrap(), "{before} + {by}");
    }
    for bad in [" 1", "1 ", "abc", "inf", "nan", "0x10", "", "1e", "--1"] {
        s.set("f", bad).await.unwrap();
        assert!(
            matches!(s.increment_float("f", 1.0).await, Err(Error::NotAFloat { .. })),
            "{bad:?} accepted"
        );
        assert_eq!(
            s.get_string("f").await.unwrap().as_deref(),
            Some(bad),
            "value changed"
        );
    }
    s.set_ex("t", "1", Duration::from_secs(3600)).await.unwrap();
    for by in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert!(matches!(
            s.increment_float("t", by).await,
            Err(Error::Overflow { .. })
        ));
    }
    assert_eq!(s.increment_float("t", 0.5).await.unwrap(), 1.5);
    assert!(s.ttl("t").await.unwrap().is_some(), "the TTL was dropped");
}
