// `#[kv(codec = ...)]`: a built-in codec by name, or a codec type by path.
use pgkv::{Codec, KvRecord};
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize, KvRecord)]
#[kv(prefix = "p-", codec = "postcard")]
struct Compact {
    id: u64,
    name: String,
}

#[derive(Debug, PartialEq, Serialize, Deserialize, KvRecord)]
#[kv(prefix = "j-", codec = "json")]
struct Named {
    id: u64,
}

#[derive(Debug, PartialEq, Serialize, Deserialize, KvRecord)]
#[kv(prefix = "c-", codec = pgkv::Postcard)]
struct ByPath {
    id: u64,
}

fn main() {
    let compact = Compact { id: 300, name: "Ada".into() };
    let bytes = compact.encode_value("k").unwrap();
    assert_eq!(bytes, <pgkv::Postcard as Codec<Compact>>::encode("k", &compact).unwrap());
    assert_eq!(Compact::decode_value("k", &bytes).unwrap(), compact);
    assert_eq!(Named { id: 1 }.encode_value("k").unwrap(), b"{\"id\":1}");
    assert_eq!(ByPath::decode_value("k", &[7]).unwrap(), ByPath { id: 7 });
    assert!(ByPath::decode_value("k", &[]).is_err());
}
