use pgkv::KvRecord;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KvRecord)]
#[kv(prefix = "state-")]
enum State {
    Open,
    Closed,
}

fn main() {}
