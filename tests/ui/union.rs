use pgkv::KvRecord;

#[derive(KvRecord)]
#[kv(prefix = "bits-")]
union Bits {
    int: u32,
    float: f32,
}

fn main() {}
