// Tuple and unit structs are records too; they just have no `save`.
use pgkv::KvRecord;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KvRecord)]
#[kv(prefix = "pair-", ttl = 60)]
struct Pair(u64, String);

#[derive(Serialize, Deserialize, KvRecord)]
#[kv(prefix = "flag")]
struct Flag;

#[derive(Serialize, Deserialize, KvRecord)]
#[kv(prefix = "empty-")]
struct Empty {}

// A raw identifier as the key field.
#[derive(Serialize, Deserialize, KvRecord)]
#[kv(prefix = "kind-")]
struct Kind {
    #[kv(key)]
    r#type: String,
}

fn main() {
    assert_eq!(Pair::key_format("1"), "pair-1");
    assert_eq!(Flag::key_format(""), "flag");
    assert_eq!(Empty::PREFIX, "empty-");
    let _ = save;
}

async fn save(store: &pgkv::Store, kind: &Kind) -> pgkv::Result<()> {
    kind.save(store).await
}
