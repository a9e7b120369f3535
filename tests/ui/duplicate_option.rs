use pgkv::KvRecord;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KvRecord)]
#[kv(prefix = "game-", ttl = 60)]
#[kv(prefix = "match-")]
struct Game {
    id: u64,
}

fn main() {}
