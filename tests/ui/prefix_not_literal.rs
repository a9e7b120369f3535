use pgkv::KvRecord;
use serde::{Deserialize, Serialize};

const PREFIX: &str = "game-";

#[derive(Serialize, Deserialize, KvRecord)]
#[kv(prefix = PREFIX)]
struct Game {
    id: u64,
}

fn main() {}
