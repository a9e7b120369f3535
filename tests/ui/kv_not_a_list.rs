use pgkv::KvRecord;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KvRecord)]
#[kv = "game-"]
struct Game {
    id: u64,
}

fn main() {}
