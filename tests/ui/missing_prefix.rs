use pgkv::KvRecord;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KvRecord)]
struct Game {
    #[kv(key)]
    id: u64,
}

fn main() {}
