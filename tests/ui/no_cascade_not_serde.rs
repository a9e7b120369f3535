// The stub impl beside an attribute error adds no error of its own, even
// for a type that is not serde: that one is reported once the attribute is
// fixed.
use pgkv::KvRecord;

#[derive(KvRecord)]
#[kv(prefix = "")]
struct Game {
    #[kv(key)]
    id: u64,
}

fn main() {}
