// Generic records: the impl applies exactly when the parameters make the
// type serde, Send and Sync; a generic key field gets `save` when it is
// `Display`. Lifetimes, const generics and where clauses pass through.
use std::borrow::Cow;
use std::fmt::Display;
use std::time::Duration;

use pgkv::KvRecord;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KvRecord)]
#[kv(prefix = "cached-", ttl = "5m")]
struct Cached<T> {
    value: T,
}

#[derive(Serialize, Deserialize, KvRecord)]
#[kv(prefix = "by-id-")]
struct ById<K, V>
where
    V: Clone,
{
    #[kv(key)]
    id: K,
    value: V,
}

// `'a` is also the name of `save`'s lifetime in the docs: no clash.
#[derive(Serialize, Deserialize, KvRecord)]
#[kv(prefix = "note-")]
struct Note<'a> {
    #[kv(key)]
    slug: Cow<'a, str>,
    text: Cow<'a, str>,
}

#[derive(Serialize, Deserialize, KvRecord)]
#[kv(prefix = "grid-")]
struct Grid<const N: usize> {
    #[kv(key)]
    name: String,
    #[serde(with = "serde_arrays")]
    cells: [u8; N],
}

mod serde_arrays {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, const N: usize>(v: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
        v.as_slice().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        let v = Vec::<u8>::deserialize(d)?;
        v.try_into()
            .map_err(|_| serde::de::Error::custom("wrong length"))
    }
}

fn assert_record<T: KvRecord>() {}

fn generic_user<T>() -> &'static str
where
    T: Serialize + DeserializeOwned + Send + Sync,
{
    assert_record::<Cached<T>>();
    Cached::<T>::PREFIX
}

async fn saves<K, V>(store: &pgkv::Store, record: &ById<K, V>) -> pgkv::Result<()>
where
    K: Serialize + DeserializeOwned + Send + Sync + Display,
    V: Serialize + DeserializeOwned + Send + Sync + Clone,
{
    record.save(store).await
}

async fn saves_all(store: &pgkv::Store) -> pgkv::Result<()> {
    Note {
        slug: "a".into(),
        text: "b".into(),
    }
    .save(store)
    .await?;
    Grid::<3> {
        name: "g".into(),
        cells: [1, 2, 3],
    }
    .save(store)
    .await?;
    saves(
        store,
        &ById {
            id: 7u32,
            value: vec![1],
        },
    )
    .await
}

fn main() {
    let _ = saves_all;
    assert_record::<Cached<String>>();
    assert_record::<Cached<Vec<u64>>>();
    assert_record::<ById<u64, String>>();
    assert_record::<Note<'static>>();
    assert_record::<Grid<4>>();
    assert_eq!(generic_user::<bool>(), "cached-");
    assert_eq!(Cached::<u8>::TTL, Some(Duration::from_secs(300)));
    assert_eq!(ById::<u8, u8>::key_format("1"), "by-id-1");
    assert_eq!(Note::TTL, None);
}
