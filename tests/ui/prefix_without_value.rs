use pgkv::KvRecord;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KvRecord)]
#[kv(prefix, ttl = 3600)]
struct Game {
    id: u64,
}

fn main() {}
