use pgkv::KvRecord;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KvRecord)]
#[kv(prefix = "game-", codec = "postcrd")]
struct Game {
    id: u64,
}

#[derive(Serialize, Deserialize, KvRecord)]
#[kv(prefix = "game-", codec = 3)]
struct Level {
    id: u64,
}

fn main() {}
