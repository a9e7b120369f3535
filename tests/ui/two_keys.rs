use pgkv::KvRecord;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KvRecord)]
#[kv(prefix = "game-")]
struct Game {
    #[kv(key)]
    id: u64,
    #[kv(key)]
    slug: String,
}

fn main() {}
