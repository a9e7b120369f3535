// A generic key field gets `save` only when its type is `Display`.
use pgkv::KvRecord;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KvRecord)]
#[kv(prefix = "by-id-")]
struct ById<K> {
    #[kv(key)]
    id: K,
}

async fn uses(store: &pgkv::Store) -> pgkv::Result<()> {
    ById { id: vec![1, 2] }.save(store).await
}

fn main() {
    let _ = uses;
}
