// A record with a bad attribute, used everywhere a record is: the only error
// is the attribute's, not one per use.
use pgkv::KvRecord;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KvRecord)]
#[kv(prefix = "game-", ttl = 0)]
struct Game {
    #[kv(key)]
    id: u64,
}

async fn uses(store: &pgkv::Store) -> pgkv::Result<()> {
    let game = Game { id: 1 };
    game.save(store).await?;
    game.set_ex(store, "1").await?;
    let _: Option<Game> = Game::get(store, "1").await?;
    let _: bool = Game::del(store, "1").await?;
    Ok(())
}

fn main() {
    let _ = uses;
}
