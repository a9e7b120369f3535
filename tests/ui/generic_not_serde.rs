// A generic record is a record only for parameters that are serde, Send and
// Sync; the error is at the use.
use pgkv::KvRecord;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KvRecord)]
#[kv(prefix = "cached-")]
struct Cached<T> {
    value: T,
}

struct Opaque;

fn main() {
    let _ = Cached::<Opaque>::key_format("x");
}
