use pgkv::KvRecord;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KvRecord)]
#[kv(prefx = "game-", ttl = 3600)]
struct Game {
    #[kv(key)]
    id: u64,
}

fn main() {}
