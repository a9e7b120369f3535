// The generated code uses absolute paths only: it compiles without the
// prelude and beside local items named like the ones it uses. It adds no
// warnings, even under strict lints, and `save` is documented.
#![deny(warnings, missing_docs, unused_qualifications, unreachable_pub)]
//! A crate with strict lints.

#[allow(dead_code)]
mod shadows {
    pub(crate) struct Option;
    pub(crate) struct Result;
    pub(crate) struct Send;
    pub(crate) struct Duration;
    pub(crate) struct Store;
    pub(crate) mod core {}
    pub(crate) mod pgkv {}
    pub(crate) mod serde {}
}

/// Records under strict lints.
pub mod records {
    #![no_implicit_prelude]
    #[allow(unused_imports)]
    use super::shadows::*;

    /// A public record: `save` is public and documented.
    #[derive(::serde::Serialize, ::serde::Deserialize, ::pgkv::KvRecord)]
    #[kv(prefix = "game-", ttl = "1h")]
    pub struct Game {
        /// The key.
        #[kv(key)]
        pub id: u64,
        /// A field.
        pub name: ::std::string::String,
    }
}

async fn save(store: &pgkv::Store, game: &records::Game) -> pgkv::Result<()> {
    game.save(store).await
}

fn main() {
    use pgkv::KvRecord;
    assert_eq!(records::Game::PREFIX, "game-");
    let _ = save;
}
