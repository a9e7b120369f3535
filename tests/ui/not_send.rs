use std::rc::Rc;

use pgkv::KvRecord;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KvRecord)]
#[kv(prefix = "game-")]
struct Game {
    name: Rc<str>,
}

fn main() {}
