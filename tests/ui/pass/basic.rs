// The README's record: the trait impl, its constants, and `save` (type-checked
// here; run against a server in tests/store/records.rs).
use std::time::Duration;

use pgkv::KvRecord;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KvRecord)]
#[kv(prefix = "game-", ttl = 3600)]
struct Game {
    #[kv(key)]
    id: u64,
    name: String,
    genre: String,
}

fn assert_send<T: Send>(_: &T) {}

// `use pgkv::KvRecord;` is the only import these calls need.
async fn every_method(store: &pgkv::Store) -> pgkv::Result<()> {
    let game = Game {
        id: 7,
        name: "Go".into(),
        genre: "board".into(),
    };
    let save = game.save(store);
    assert_send(&save);
    save.await?;
    game.set_ex(store, "7").await?;
    let _: Option<Game> = Game::get(store, "7").await?;
    let _: Option<Game> = Game::get_ex(store, "7").await?;
    let _: Option<Game> = Game::get_del(store, "7").await?;
    let _: bool = Game::del(store, "7").await?;
    Ok(())
}

fn main() {
    let _ = every_method;
    assert_eq!(Game::PREFIX, "game-");
    assert_eq!(Game::TTL, Some(Duration::from_secs(3600)));
    assert_eq!(Game::key_format("7"), "game-7");
}
