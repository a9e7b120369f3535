//! `#[derive(KvRecord)]` end to end: the "Postgres as a KV store with SQLx"
//! blog's `Game` record, with the derive instead of a hand-written trait.
//!
//! ```text
//! scripts/with-postgres cargo run --example derive
//! ```

use std::time::Duration;

use pgkv::{KvRecord, Store};
use serde::{Deserialize, Serialize};

/// Stored as JSON under `game-<id>`, expiring an hour after it is written
/// (or last read with `get_ex`).
#[derive(Debug, Serialize, Deserialize, KvRecord)]
#[kv(prefix = "game-", ttl = 3600)]
struct Game {
    #[kv(key)]
    id: u64,
    name: String,
    genre: String,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    pgkv_suite::report(run().await)
}

async fn run() -> pgkv::Result<()> {
    let store = Store::connect(&pgkv_suite::example_database_url("derive")).await?;
    // As in the blog post: a background task deletes expired rows for good.
    let cleanup = store.spawn_cleanup(std::time::Duration::from_secs(60));
    let key = Game::key_format("1");

    let game = Game {
        id: 1,
        name: "Celeste".into(),
        genre: "platformer".into(),
    };
    game.save(&store).await?;
    println!("save:    stored {game:?} under {key:?}, TTL {:?}", Game::TTL);
    let json = store.get_string(&key).await?.unwrap_or_default();
    println!("         the row's value is plain JSON: {json}");
    println!("         expires in {}", remaining(&store, &key).await?);

    let found = Game::get(&store, "1").await?;
    println!("get:     {found:?}");
    println!(
        "get:     id 2 -> {:?} (never stored)",
        Game::get(&store, "2").await?
    );

    // Pretend the record sat unread for 59 minutes, then read it with get_ex:
    // the read pushes its expiry back to a full hour.
    store.expire(&key, Duration::from_secs(60)).await?;
    println!(
        "         (59 minutes later) expires in {}",
        remaining(&store, &key).await?
    );
    let found = Game::get_ex(&store, "1").await?;
    println!("get_ex:  {found:?}");
    println!("         expires in {} again", remaining(&store, &key).await?);

    let taken = Game::get_del(&store, "1").await?;
    println!("get_del: took {taken:?}");
    println!(
        "get_del: again -> {:?} (exactly one caller gets it)",
        Game::get_del(&store, "1").await?
    );

    game.set_ex(&store, "1").await?;
    println!("set_ex:  stored it again under \"1\"");
    println!("del:     {} (it existed)", Game::del(&store, "1").await?);
    println!("del:     {} (already gone)", Game::del(&store, "1").await?);
    println!("get:     {:?}", Game::get(&store, "1").await?);
    cleanup.shutdown().await;
    Ok(())
}

async fn remaining(store: &Store, key: &str) -> pgkv::Result<String> {
    Ok(match store.ttl(key).await? {
        Some(ttl) => format!("{}s", ttl.as_secs()),
        None => "never".to_owned(),
    })
}
