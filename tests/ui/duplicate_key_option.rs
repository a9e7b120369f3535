use pgkv::KvRecord;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KvRecord)]
#[kv(prefix = "game-")]
struct Game {
    #[kv(key, key)]
    id: u64,
}

fn main() {}
