use pgkv::KvRecord;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KvRecord)]
#[kv(prefix = "game-", ttl = "400000d")]
struct Game {
    id: u64,
}

fn main() {}
