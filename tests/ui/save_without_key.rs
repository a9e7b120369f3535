// `save` exists only with a `#[kv(key)]` field.
use pgkv::KvRecord;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KvRecord)]
#[kv(prefix = "game-")]
struct Game {
    id: u64,
}

async fn uses(store: &pgkv::Store) -> pgkv::Result<()> {
    Game { id: 1 }.save(store).await
}

fn main() {
    let _ = uses;
}
