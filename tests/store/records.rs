//! KvRecord, #[derive(KvRecord)] and TypedStore against PostgreSQL.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use pgkv::{KvRecord, Store, TypedStore};
use pgkv_suite::{force_expire, store};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::Barrier;

const HOUR: Duration = Duration::from_secs(3600);

/// The blog's record, derived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, KvRecord)]
#[kv(prefix = "game-", ttl = 3600)]
struct Game {
    #[kv(key)]
    id: u64,
    name: String,
    genre: String,
}

fn game(id: u64) -> Game {
    Game {
        id,
        name: format!("game {id}"),
        genre: "puzzle".into(),
    }
}

/// A record that never expires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, KvRecord)]
#[kv(prefix = "setting:")]
struct Setting {
    #[kv(key)]
    name: String,
    value: i64,
}

/// The blog pattern by hand: the two constants plus a key layout of its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Profile {
    user: u32,
    bio: String,
}

impl KvRecord for Profile {
    const PREFIX: &'static str = "user:";
    const TTL: Option<Duration> = Some(Duration::from_secs(600));

    fn key_format(key: &str) -> String {
        format!("{}{key}:profile", Self::PREFIX)
    }
}

/// A generic record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, KvRecord)]
#[kv(prefix = "cached-", ttl = "30m")]
struct Cached<T> {
    value: T,
}

/// A remaining TTL close to `expected`: not more, and not much less (the
/// statements between setting and reading it take well under a minute).
fn assert_ttl_near(ttl: Option<Duration>, expected: Duration) {
    let ttl = ttl.expect("the key should have an expiry");
    assert!(
        ttl <= expected && ttl + Duration::from_secs(60) > expected,
        "ttl {ttl:?}, expected about {expected:?}"
    );
}

/// The JSON-decoding error for `key`, whatever its message.
fn assert_json_error<T: Debug>(result: pgkv::Result<T>, key: &str) {
    match result {
        Err(pgkv::Error::Json { key: failed, .. }) => assert_eq!(failed, key),
        other => panic!("expected a JSON error for {key:?}, got {other:?}"),
    }
}

#[test]
fn derived_constants() {
    assert_eq!(Game::PREFIX, "game-");
    assert_eq!(Game::TTL, Some(HOUR));
    assert_eq!(Game::key_format("7"), "game-7");
    assert_eq!(Setting::TTL, None);
    assert_eq!(Cached::<String>::TTL, Some(Duration::from_secs(1800)));
    assert_eq!(Profile::key_format("7"), "user:7:profile");
}

#[tokio::test]
async fn set_ex_get_del_round_trip() {
    let s = store("rec_round_trip").await;
    let g = game(7);
    g.set_ex(&s, "7").await.unwrap();

    // Stored as readable JSON under prefix + key, with the record's TTL.
    let raw = s
        .get_string("game-7")
        .await
        .unwrap()
        .expect("stored under game-7");
    let json: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(json["name"], "game 7");
    assert_ttl_near(s.ttl("game-7").await.unwrap(), HOUR);

    assert_eq!(Game::get(&s, "7").await.unwrap(), Some(g.clone()));
    assert_eq!(Game::get(&s, "8").await.unwrap(), None);
    assert!(Game::del(&s, "7").await.unwrap());
    assert!(!Game::del(&s, "7").await.unwrap());
    assert_eq!(Game::get(&s, "7").await.unwrap(), None);
    assert!(!s.exists("game-7").await.unwrap());
}

#[tokio::test]
async fn set_ex_overwrites_and_restarts_ttl() {
    let s = store("rec_overwrite").await;
    game(1).set_ex(&s, "1").await.unwrap();
    s.expire("game-1", Duration::from_secs(5)).await.unwrap();
    let renamed = Game {
        name: "renamed".into(),
        ..game(1)
    };
    renamed.set_ex(&s, "1").await.unwrap();
    assert_eq!(Game::get(&s, "1").await.unwrap(), Some(renamed));
    assert_ttl_near(s.ttl("game-1").await.unwrap(), HOUR);
}

#[tokio::test]
async fn save_stores_under_the_key_field() {
    let s = store("rec_save").await;
    let g = game(42);
    g.save(&s).await.unwrap();
    assert_eq!(Game::get(&s, "42").await.unwrap(), Some(g.clone()));
    assert_ttl_near(s.ttl("game-42").await.unwrap(), HOUR);

    // The same as set_ex under the field's Display text.
    let by_hand = s.get("game-42").await.unwrap();
    g.set_ex(&s, &g.id.to_string()).await.unwrap();
    assert_eq!(s.get("game-42").await.unwrap(), by_hand);

    let setting = Setting {
        name: "theme".into(),
        value: 3,
    };
    setting.save(&s).await.unwrap();
    assert_eq!(Setting::get(&s, "theme").await.unwrap(), Some(setting));
    assert!(s.exists("setting:theme").await.unwrap());
}

#[tokio::test]
async fn no_ttl_means_no_expiry() {
    let s = store("rec_no_ttl").await;
    let setting = Setting {
        name: "mode".into(),
        value: 1,
    };
    setting.set_ex(&s, "mode").await.unwrap();
    assert_eq!(s.ttl("setting:mode").await.unwrap(), None);

    // Writing again clears an expiry set from elsewhere, like `set`.
    assert!(s.expire("setting:mode", Duration::from_secs(60)).await.unwrap());
    setting.save(&s).await.unwrap();
    assert_eq!(s.ttl("setting:mode").await.unwrap(), None);

    // get_ex is a plain read: it neither adds nor removes an expiry.
    assert_eq!(Setting::get_ex(&s, "mode").await.unwrap(), Some(setting.clone()));
    assert_eq!(s.ttl("setting:mode").await.unwrap(), None);
    assert!(s.expire("setting:mode", Duration::from_secs(60)).await.unwrap());
    assert_eq!(Setting::get_ex(&s, "mode").await.unwrap(), Some(setting));
    assert_ttl_near(s.ttl("setting:mode").await.unwrap(), Duration::from_secs(60));
}

#[tokio::test]
async fn get_ex_slides_the_expiry_and_get_does_not() {
    let s = store("rec_sliding").await;
    let g = game(3);
    g.set_ex(&s, "3").await.unwrap();
    assert!(s.expire("game-3", Duration::from_secs(5)).await.unwrap());

    assert_eq!(Game::get(&s, "3").await.unwrap(), Some(g.clone()));
    let after_get = s.ttl("game-3").await.unwrap().unwrap();
    assert!(
        after_get <= Duration::from_secs(5),
        "get must not slide: {after_get:?}"
    );

    assert_eq!(Game::get_ex(&s, "3").await.unwrap(), Some(g));
    assert_ttl_near(s.ttl("game-3").await.unwrap(), HOUR);
    assert_eq!(Game::get_ex(&s, "4").await.unwrap(), None);
    assert!(!s.exists("game-4").await.unwrap());
}

#[tokio::test]
async fn get_del_reads_and_deletes() {
    let s = store("rec_get_del").await;
    let g = game(5);
    g.set_ex(&s, "5").await.unwrap();
    assert_eq!(Game::get_del(&s, "5").await.unwrap(), Some(g));
    assert_eq!(Game::get_del(&s, "5").await.unwrap(), None);
    assert_eq!(Game::get(&s, "5").await.unwrap(), None);
}

#[tokio::test]
async fn expired_records_are_absent() {
    let s = store("rec_expired").await;
    for id in 1..=4 {
        game(id).save(&s).await.unwrap();
        force_expire(&s, &Game::key_format(&id.to_string())).await;
    }
    assert_eq!(Game::get(&s, "1").await.unwrap(), None);
    assert_eq!(Game::get_ex(&s, "2").await.unwrap(), None);
    assert_eq!(Game::get_del(&s, "3").await.unwrap(), None);
    assert!(!Game::del(&s, "4").await.unwrap());
    // get_ex did not bring the expired record back.
    assert_eq!(Game::get(&s, "2").await.unwrap(), None);

    // Saving again makes it live again, with a fresh TTL.
    game(1).save(&s).await.unwrap();
    assert_eq!(Game::get(&s, "1").await.unwrap(), Some(game(1)));
    assert_ttl_near(s.ttl("game-1").await.unwrap(), HOUR);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_get_del_has_exactly_one_taker() {
    const TASKS: usize = 16;
    let s = store("rec_get_del_race").await;
    for round in 0..5u64 {
        game(round).save(&s).await.unwrap();
        let key = round.to_string();
        let barrier = Arc::new(Barrier::new(TASKS));
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let (s, key, barrier) = (s.clone(), key.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    Game::get_del(&s, &key).await.unwrap()
                })
            })
            .collect();
        let mut taken = Vec::new();
        for task in tasks {
            taken.extend(task.await.unwrap());
        }
        assert_eq!(taken, vec![game(round)], "round {round}: exactly one taker");
        assert_eq!(Game::get(&s, &key).await.unwrap(), None);
    }
}

#[tokio::test]
async fn corrupt_json_is_an_error_naming_the_key() {
    let s = store("rec_corrupt").await;
    s.set("game-1", "not json").await.unwrap();
    assert_json_error(Game::get(&s, "1").await, "game-1");
    assert_json_error(Game::get_ex(&s, "1").await, "game-1");
    let error = Game::get(&s, "1").await.unwrap_err();
    assert!(error.to_string().contains("game-1"), "{error}");
    assert!(!error.is_not_found() && !error.is_recoverable());
    assert!(
        std::error::Error::source(&error).is_some(),
        "serde_json's error is kept"
    );

    // Valid JSON of another shape is the same error, not a panic.
    s.set("game-2", r#"{"id":"two"}"#).await.unwrap();
    assert_json_error(Game::get(&s, "2").await, "game-2");

    // get_del removes the row even though it cannot decode it.
    assert_json_error(Game::get_del(&s, "1").await, "game-1");
    assert!(!s.exists("game-1").await.unwrap());
    // del does not decode at all.
    assert!(Game::del(&s, "2").await.unwrap());
}

#[tokio::test]
async fn unencodable_record_is_an_error_and_writes_nothing() {
    #[derive(Serialize, Deserialize, KvRecord)]
    #[kv(prefix = "bad-")]
    struct Bad {
        #[kv(key)]
        id: u8,
        // serde_json maps need string keys.
        map: BTreeMap<Vec<u8>, u8>,
    }
    let s = store("rec_unencodable").await;
    let bad = Bad {
        id: 1,
        map: BTreeMap::from([(vec![1], 1)]),
    };
    assert_json_error(bad.save(&s).await, "bad-1");
    assert_json_error(bad.set_ex(&s, "1").await, "bad-1");
    assert!(!s.exists("bad-1").await.unwrap());
}

#[tokio::test]
async fn hand_written_impl_uses_its_key_format() {
    let s = store("rec_key_format").await;
    let p = Profile {
        user: 9,
        bio: "hi".into(),
    };
    p.set_ex(&s, "9").await.unwrap();
    assert!(s.exists("user:9:profile").await.unwrap());
    assert!(!s.exists("user:9").await.unwrap());
    assert_ttl_near(s.ttl("user:9:profile").await.unwrap(), Duration::from_secs(600));

    assert_eq!(Profile::get(&s, "9").await.unwrap(), Some(p.clone()));
    s.expire("user:9:profile", Duration::from_secs(5)).await.unwrap();
    assert_eq!(Profile::get_ex(&s, "9").await.unwrap(), Some(p.clone()));
    assert_ttl_near(s.ttl("user:9:profile").await.unwrap(), Duration::from_secs(600));
    assert_eq!(Profile::get_del(&s, "9").await.unwrap(), Some(p.clone()));
    p.set_ex(&s, "9").await.unwrap();
    assert!(Profile::del(&s, "9").await.unwrap());
    assert!(!s.exists("user:9:profile").await.unwrap());
}

async fn round_trip<T: KvRecord + PartialEq + Debug>(s: &Store, key: &str, record: T) {
    record.set_ex(s, key).await.unwrap();
    assert_eq!(T::get(s, key).await.unwrap().as_ref(), Some(&record));
    assert_eq!(T::get_del(s, key).await.unwrap(), Some(record));
}

#[tokio::test]
async fn generic_records() {
    let s = store("rec_generic").await;
    round_trip(
        &s,
        "s",
        Cached {
            value: "text".to_owned(),
        },
    )
    .await;
    round_trip(
        &s,
        "v",
        Cached {
            value: vec![1u32, 2, 3],
        },
    )
    .await;
    round_trip(&s, "g", Cached { value: game(1) }).await;

    Cached { value: 5u8 }.set_ex(&s, "n").await.unwrap();
    assert_ttl_near(s.ttl("cached-n").await.unwrap(), Duration::from_secs(1800));
    // Same prefix, another parameter: a decode error, not a wrong value.
    assert_json_error(Cached::<String>::get(&s, "n").await, "cached-n");
}

fn assert_send<T: Send>(_: T) {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn futures_are_send() {
    let s = store("rec_send").await;
    let g = game(11);
    assert_send(g.save(&s));
    assert_send(g.set_ex(&s, "11"));
    assert_send(Game::get(&s, "11"));
    assert_send(Game::get_ex(&s, "11"));
    assert_send(Game::get_del(&s, "11"));
    assert_send(Game::del(&s, "11"));
    assert_send(Cached { value: 1u8 }.set_ex(&s, "1"));
    let typed = s.typed::<Game>();
    assert_send(typed.get("k"));
    assert_send(typed.set("k", &g));

    // Spawned on the runtime, as an application would.
    let spawned = tokio::spawn({
        let s = s.clone();
        async move {
            game(12).save(&s).await?;
            Game::get_ex(&s, "12").await
        }
    });
    assert_eq!(spawned.await.unwrap().unwrap(), Some(game(12)));
}

// ---- TypedStore -------------------------------------------------------------

#[tokio::test]
async fn typed_set_get_delete() {
    let s = store("typed_basic").await;
    let games = s.typed::<Game>();
    games.set("g1", &game(1)).await.unwrap();
    assert_eq!(games.get("g1").await.unwrap(), Some(game(1)));
    assert_eq!(games.get("missing").await.unwrap(), None);
    assert_eq!(s.ttl("g1").await.unwrap(), None);
    // Readable JSON, like records.
    let raw = s.get_string("g1").await.unwrap().unwrap();
    assert_eq!(serde_json::from_str::<Game>(&raw).unwrap(), game(1));

    // set clears an expiry.
    s.expire("g1", Duration::from_secs(30)).await.unwrap();
    games.set("g1", &game(2)).await.unwrap();
    assert_eq!(s.ttl("g1").await.unwrap(), None);
    assert_eq!(games.get("g1").await.unwrap(), Some(game(2)));

    assert!(games.delete("g1").await.unwrap());
    assert!(!games.delete("g1").await.unwrap());
    assert_eq!(games.get("g1").await.unwrap(), None);

    // TypedStore::new is the same view.
    let numbers = TypedStore::<Vec<i32>>::new(&s);
    numbers.set(String::from("n"), &vec![1, -2]).await.unwrap();
    assert_eq!(s.typed::<Vec<i32>>().get("n").await.unwrap(), Some(vec![1, -2]));
}

#[tokio::test]
async fn typed_expiry() {
    let s = store("typed_expiry").await;
    let games = s.typed::<Game>();
    games
        .set_ex("e", &game(1), Duration::from_secs(100))
        .await
        .unwrap();
    assert_ttl_near(s.ttl("e").await.unwrap(), Duration::from_secs(100));

    assert_eq!(games.get_ex("e", HOUR).await.unwrap(), Some(game(1)));
    assert_ttl_near(s.ttl("e").await.unwrap(), HOUR);
    assert_eq!(games.get_ex("none", HOUR).await.unwrap(), None);

    force_expire(&s, "e").await;
    assert_eq!(games.get("e").await.unwrap(), None);
    assert_eq!(games.get_ex("e", HOUR).await.unwrap(), None);
    assert_eq!(games.get_and_delete("e").await.unwrap(), None);
    assert!(!games.delete("e").await.unwrap());

    // A zero TTL is rejected before any SQL, not stored as "expired".
    assert!(games.set_ex("z", &game(1), Duration::ZERO).await.is_err());
    assert!(!s.exists("z").await.unwrap());
}

#[tokio::test]
async fn typed_many() {
    let s = store("typed_many").await;
    let games = s.typed::<Game>();
    games
        .set_many(&[("a", game(1)), ("b", game(2)), ("a", game(3))])
        .await
        .unwrap();
    // Aligned with the keys: duplicates repeated, missing keys None; a
    // repeated key in set_many: the last one won.
    assert_eq!(
        games.get_many(&["b", "missing", "a", "b", "a"]).await.unwrap(),
        vec![Some(game(2)), None, Some(game(3)), Some(game(2)), Some(game(3))]
    );
    let none: [&str; 0] = [];
    assert_eq!(games.get_many(&none).await.unwrap(), vec![]);
    games.set_many(&Vec::<(String, Game)>::new()).await.unwrap();

    // Expired keys read as missing.
    force_expire(&s, "b").await;
    assert_eq!(
        games.get_many(&["a", "b"]).await.unwrap(),
        vec![Some(game(3)), None]
    );
}

#[tokio::test]
async fn typed_get_and_delete() {
    let s = store("typed_take").await;
    let games = s.typed::<Game>();
    games.set("t", &game(4)).await.unwrap();
    assert_eq!(games.get_and_delete("t").await.unwrap(), Some(game(4)));
    assert_eq!(games.get_and_delete("t").await.unwrap(), None);
    assert!(!s.exists("t").await.unwrap());
}

#[tokio::test]
async fn typed_decode_errors_name_the_key() {
    let s = store("typed_decode").await;
    let games = s.typed::<Game>();
    games.set("good", &game(1)).await.unwrap();
    s.set("bad", "not json").await.unwrap();
    s.set("other", "[1,2,3]").await.unwrap();

    assert_json_error(games.get("bad").await, "bad");
    assert_json_error(games.get("other").await, "other");
    assert_json_error(games.get_ex("bad", HOUR).await, "bad");
    // One undecodable value fails the batch, and the error says which.
    assert_json_error(games.get_many(&["good", "bad"]).await, "bad");
    // The value is removed even though it could not be decoded.
    assert_json_error(games.get_and_delete("other").await, "other");
    assert!(!s.exists("other").await.unwrap());
    // Deleting needs no decoding.
    assert!(games.delete("bad").await.unwrap());
    assert_eq!(games.get("good").await.unwrap(), Some(game(1)));
}

#[tokio::test]
async fn typed_encode_errors_write_nothing() {
    let s = store("typed_encode").await;
    let maps = s.typed::<BTreeMap<Vec<u8>, u8>>();
    let fine = BTreeMap::new();
    let unencodable = BTreeMap::from([(vec![1], 1)]);
    assert_json_error(maps.set("x", &unencodable).await, "x");
    assert_json_error(maps.set_ex("x", &unencodable, HOUR).await, "x");
    // All or nothing: the encodable item before the bad one is not written.
    assert_json_error(
        maps.set_many(&[("ok", fine.clone()), ("x", unencodable)]).await,
        "x",
    );
    assert!(!s.exists("ok").await.unwrap());
    assert!(!s.exists("x").await.unwrap());
    maps.set("ok", &fine).await.unwrap();
    assert_eq!(maps.get("ok").await.unwrap(), Some(fine));
}

/// TypedStore works for any serde type, records included, and shares keys
/// with the records' layout when given the full key.
#[tokio::test]
async fn typed_and_records_share_the_store() {
    let s = store("typed_records").await;
    game(8).save(&s).await.unwrap();
    assert_eq!(s.typed::<Game>().get("game-8").await.unwrap(), Some(game(8)));
    generic_take::<Game>(&s, "game-8", game(8)).await;
}

async fn generic_take<T>(s: &Store, key: &str, expected: T)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    assert_eq!(s.typed::<T>().get_and_delete(key).await.unwrap(), Some(expected));
}
