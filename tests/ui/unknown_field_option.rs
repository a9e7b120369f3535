use pgkv::KvRecord;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KvRecord)]
#[kv(prefix = "game-")]
struct Game {
    #[kv(kye)]
    id: u64,
    #[kv(skip)]
    name: String,
}

fn main() {}
