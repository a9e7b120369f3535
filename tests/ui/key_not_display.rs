use pgkv::KvRecord;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct GameId {
    region: u8,
    n: u64,
}

#[derive(Serialize, Deserialize, KvRecord)]
#[kv(prefix = "game-")]
struct Game {
    #[kv(key)]
    id: GameId,
}

fn main() {}
