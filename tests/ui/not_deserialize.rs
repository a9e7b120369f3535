use pgkv::KvRecord;
use serde::Serialize;

#[derive(Serialize, KvRecord)]
#[kv(prefix = "game-")]
struct Game {
    id: u64,
}

fn main() {}
