//! Value codecs: JSON (the default), postcard and protobuf, through
//! `TypedStore` and `#[derive(KvRecord)]`; undecodable values are errors
//! naming the key and type.

use std::time::Duration;

use pgkv::{Error, Json, KvRecord, Postcard, Protobuf, TypedStore};
use pgkv_suite::store;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Session {
    user_id: u64,
    name: String,
    roles: Vec<String>,
    expires_in: u32,
    admin: bool,
}

fn session() -> Session {
    Session {
        user_id: 123_456_789,
        name: "Ada Lovelace".into(),
        roles: vec!["reader".into(), "writer".into()],
        expires_in: 1800,
        admin: false,
    }
}

#[derive(Clone, PartialEq, prost::Message)]
struct User {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(uint64, tag = "2")]
    id: u64,
    #[prost(string, repeated, tag = "3")]
    roles: Vec<String>,
}

fn codec_error(e: Error) -> (String, &'static str, &'static str) {
    match e {
        Error::Codec {
            key,
            type_name,
            codec,
            ..
        } => (key, type_name, codec),
        other => panic!("expected Error::Codec, got {other:?}"),
    }
}

#[tokio::test]
async fn postcard_values_round_trip_and_are_smaller_than_json() {
    let s = store("codec_postcard").await;
    let compact = s.typed_with::<Session, Postcard>();
    compact.set("s:1", &session()).await.unwrap();
    assert_eq!(compact.get("s:1").await.unwrap(), Some(session()));
    compact
        .set_ex("s:2", &session(), Duration::from_secs(60))
        .await
        .unwrap();
    compact
        .set_many(&[("s:3", session()), ("s:4", session())])
        .await
        .unwrap();
    assert_eq!(
        compact.get_many(&["s:3", "missing", "s:4"]).await.unwrap(),
        vec![Some(session()), None, Some(session())]
    );
    assert_eq!(compact.get_and_delete("s:4").await.unwrap(), Some(session()));
    assert_eq!(
        compact.get_ex("s:3", Duration::from_secs(60)).await.unwrap(),
        Some(session())
    );

    s.typed::<Session>().set("json", &session()).await.unwrap();
    let json_len = s.get("json").await.unwrap().unwrap().len();
    let postcard_len = s.get("s:1").await.unwrap().unwrap().len();
    assert_eq!(postcard_len, 35);
    assert_eq!(json_len, 103);

    // The same view by its type, and inside a transaction.
    let by_type = TypedStore::<Session, pgkv::Store, Postcard>::with_codec(&s);
    assert_eq!(by_type.get("s:1").await.unwrap(), Some(session()));
    let mut tx = s.begin().await.unwrap();
    let mut in_tx = tx.typed_with::<Session, Postcard>();
    in_tx.set("s:5", &session()).await.unwrap();
    assert_eq!(in_tx.get("s:5").await.unwrap(), Some(session()));
    tx.commit().await.unwrap();
    assert_eq!(compact.get("s:5").await.unwrap(), Some(session()));
}

#[tokio::test]
async fn undecodable_values_are_errors_naming_the_key_and_type() {
    let s = store("codec_bad").await;
    let compact = s.typed_with::<Session, Postcard>();
    let garbage: [&[u8]; 5] = [
        b"",
        b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
        b"{\"user_id\":1}",
        &[1, 200, 1],
        &[0; 3],
    ];
    for (i, bytes) in garbage.iter().enumerate() {
        let key = format!("bad:{i}");
        s.set(&key, bytes).await.unwrap();
        let (k, type_name, codec) = codec_error(compact.get(&key).await.unwrap_err());
        assert_eq!((k.as_str(), codec), (key.as_str(), "postcard"));
        assert!(type_name.ends_with("Session"), "{type_name}");
    }
    // Trailing bytes after a valid value are refused too.
    let mut long = <Postcard as pgkv::Codec<Session>>::encode("k", &session()).unwrap();
    long.push(0);
    s.set("long", &long).await.unwrap();
    assert_eq!(codec_error(compact.get("long").await.unwrap_err()).0, "long");
    // A bad value in a batch fails the batch read and names its key.
    s.typed_with::<Session, Postcard>()
        .set("good", &session())
        .await
        .unwrap();
    let e = compact.get_many(&["good", "bad:2"]).await.unwrap_err();
    assert_eq!(codec_error(e).0, "bad:2");
    // JSON keeps its own error.
    let e = s.typed_with::<Session, Json>().get("good").await.unwrap_err();
    assert!(matches!(e, Error::Json { ref key, .. } if key == "good"), "{e:?}");
    assert!(!e.is_recoverable() && !e.is_not_found());
}

#[tokio::test]
async fn prost_messages_are_stored_and_read_back() {
    let s = store("codec_prost").await;
    let users = s.typed_with::<User, Protobuf>();
    let ada = User {
        name: "Ada".into(),
        id: 1,
        roles: vec!["admin".into()],
    };
    users.set("user:1", &ada).await.unwrap();
    assert_eq!(users.get("user:1").await.unwrap(), Some(ada.clone()));
    assert_eq!(
        s.get("user:1").await.unwrap().unwrap(),
        prost::Message::encode_to_vec(&ada)
    );
    assert_eq!(users.get("missing").await.unwrap(), None);
    s.set("user:bad", [0x0a, 0xff]).await.unwrap();
    let (key, _, codec) = codec_error(users.get("user:bad").await.unwrap_err());
    assert_eq!((key.as_str(), codec), ("user:bad", "protobuf"));
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, KvRecord)]
#[kv(prefix = "cart:", ttl = 600, codec = "postcard")]
struct Cart {
    #[kv(key)]
    id: u32,
    items: Vec<(String, u16)>,
}

#[tokio::test]
async fn a_record_with_a_codec_uses_it_for_every_call() {
    let s = store("codec_record").await;
    let cart = Cart {
        id: 7,
        items: vec![("apple".into(), 3), ("pear".into(), 1)],
    };
    cart.save(&s).await.unwrap();
    let stored = s.get("cart:7").await.unwrap().unwrap();
    assert_eq!(
        stored,
        <Postcard as pgkv::Codec<Cart>>::encode("cart:7", &cart).unwrap()
    );
    assert_eq!(Cart::get(&s, "7").await.unwrap(), Some(cart.clone()));
    assert_eq!(Cart::get_ex(&s, "7").await.unwrap(), Some(cart.clone()));
    assert!(s.ttl("cart:7").await.unwrap().is_some());
    assert_eq!(Cart::get_del(&s, "7").await.unwrap(), Some(cart.clone()));
    s.set("cart:8", "{\"id\":8,\"items\":[]}").await.unwrap();
    let (key, type_name, codec) = codec_error(Cart::get(&s, "8").await.unwrap_err());
    assert_eq!((key.as_str(), codec), ("cart:8", "postcard"));
    assert!(type_name.ends_with("Cart"));
}
