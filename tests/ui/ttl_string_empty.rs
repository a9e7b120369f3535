use pgkv::KvRecord;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KvRecord)]
#[kv(prefix = "game-", ttl = "")]
struct Game {
    id: u64,
}

fn main() {}
