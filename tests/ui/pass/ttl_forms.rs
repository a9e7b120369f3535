// Every accepted way to write `prefix` and `ttl`.
use std::time::Duration;

use pgkv::KvRecord;
use serde::{Deserialize, Serialize};

macro_rules! record {
    ($name:ident, $($kv:tt)*) => {
        #[derive(Serialize, Deserialize, KvRecord)]
        #[kv($($kv)*)]
        struct $name {
            id: u64,
        }
    };
}

record!(Seconds, prefix = "s-", ttl = 90);
record!(Suffixed, prefix = "s-", ttl = 90u64);
record!(Hour, prefix = "h-", ttl = "1h");
record!(HourHalf, prefix = "hh-", ttl = "1h30m");
record!(Minutes, prefix = "m-", ttl = "30m");
record!(Secs, prefix = "x-", ttl = "90s");
record!(Days, prefix = "d-", ttl = "2d");
record!(All, prefix = "a-", ttl = "1d2h3m4s");
record!(Forever, prefix = "f-");
record!(TtlFirst, ttl = 60, prefix = "t-");
record!(Raw, prefix = r#"raw"-"#);
record!(Max, prefix = "max-", ttl = "366000d");

// A prefix and TTL handed through macro fragments (invisible groups).
macro_rules! from_fragments {
    ($prefix:literal, $ttl:expr) => {
        #[derive(Serialize, Deserialize, KvRecord)]
        #[kv(prefix = $prefix, ttl = $ttl)]
        struct Fragments {
            id: u64,
        }
    };
}
from_fragments!("frag-", "10m");

// Options split over two attributes.
#[derive(Serialize, Deserialize, KvRecord)]
#[kv(prefix = "split-")]
#[kv(ttl = 5)]
struct Split {
    #[kv(key)]
    id: u64,
}

fn secs(ttl: Option<Duration>) -> Option<u64> {
    ttl.map(|d| d.as_secs())
}

fn main() {
    assert_eq!(secs(Seconds::TTL), Some(90));
    assert_eq!(secs(Suffixed::TTL), Some(90));
    assert_eq!(secs(Hour::TTL), Some(3600));
    assert_eq!(secs(HourHalf::TTL), Some(5400));
    assert_eq!(secs(Minutes::TTL), Some(1800));
    assert_eq!(secs(Secs::TTL), Some(90));
    assert_eq!(secs(Days::TTL), Some(172_800));
    assert_eq!(secs(All::TTL), Some(93_784));
    assert_eq!(Forever::TTL, None);
    assert_eq!(TtlFirst::PREFIX, "t-");
    assert_eq!(Raw::PREFIX, "raw\"-");
    // The derive's own limit is pgkv's.
    assert_eq!(Max::TTL, Some(pgkv::MAX_TTL));
    assert_eq!(Fragments::PREFIX, "frag-");
    assert_eq!(secs(Fragments::TTL), Some(600));
    assert_eq!(Split::PREFIX, "split-");
    assert_eq!(secs(Split::TTL), Some(5));
    let _ = save;
}

async fn save(store: &pgkv::Store, split: &Split) -> pgkv::Result<()> {
    split.save(store).await
}
