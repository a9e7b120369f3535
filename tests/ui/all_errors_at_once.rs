// Every problem is reported in one go, each on its own token.
use pgkv::KvRecord;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KvRecord)]
#[kv(prefx = "game-", ttl = "1x")]
struct Game {
    #[kv(key)]
    id: u64,
    #[kv(key)]
    slug: String,
    #[kv(skip)]
    name: String,
}

fn main() {}
