use pgkv::KvRecord;

#[derive(KvRecord)]
#[kv(prefix = "game-")]
struct Game {
    #[kv(key)]
    id: u64,
}

fn main() {}
