use pgkv::KvRecord;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KvRecord)]
#[kv(prefix = "game-", ttl = 60secs)]
struct Game {
    id: u64,
}

fn main() {}
