use pgkv::KvRecord;
use serde::{Deserialize, Serialize};

const HOUR: u64 = 3600;

#[derive(Serialize, Deserialize, KvRecord)]
#[kv(prefix = "game-", ttl = HOUR)]
struct Game {
    id: u64,
}

fn main() {}
