use pgkv::KvRecord;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KvRecord)]
#[kv(prefix = "game\0")]
struct Game {
    id: u64,
}

fn main() {}
