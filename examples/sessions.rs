//! A session store on pgkv: login creates a session that expires after 30
//! idle minutes, every request slides that window (`get_ex`), logout takes
//! the session away atomically (`get_del`), and a request after logout or
//! after 30 idle minutes is rejected.
//!
//! ```text
//! scripts/with-postgres cargo run --example sessions
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pgkv::{KvRecord, Store};
use serde::{Deserialize, Serialize};

/// One logged-in user, stored as JSON under `session:<token>`.
#[derive(Debug, Clone, Serialize, Deserialize, KvRecord)]
#[kv(prefix = "session:", ttl = "30m")]
struct Session {
    #[kv(key)]
    token: String,
    user_id: u64,
    username: String,
    /// Seconds since the Unix epoch.
    logged_in_at: u64,
}

/// Why a request was turned away.
#[derive(Debug)]
enum Rejected {
    /// No live session for the token: never existed, logged out or expired.
    Unauthorized,
    Store(pgkv::Error),
}

impl From<pgkv::Error> for Rejected {
    fn from(e: pgkv::Error) -> Self {
        Rejected::Store(e)
    }
}

struct App {
    store: Store,
}

impl App {
    async fn login(&self, user_id: u64, username: &str) -> pgkv::Result<String> {
        let session = Session {
            token: new_token(),
            user_id,
            username: username.to_owned(),
            logged_in_at: unix_now(),
        };
        // `save` is `set_ex` under the `token` field, with the 30-minute TTL.
        session.save(&self.store).await?;
        Ok(session.token)
    }

    /// Every authenticated request: one statement reads the session and
    /// moves its expiry to now + 30 minutes.
    async fn request(&self, token: &str, path: &str) -> Result<String, Rejected> {
        let session = Session::get_ex(&self.store, token)
            .await?
            .ok_or(Rejected::Unauthorized)?;
        Ok(format!(
            "200 {path} for {} (user {})",
            session.username, session.user_id
        ))
    }

    /// Takes the session away: of two concurrent logouts (or a logout racing
    /// a "log out everywhere"), exactly one gets the session back.
    async fn logout(&self, token: &str) -> pgkv::Result<Option<Session>> {
        Session::get_del(&self.store, token).await
    }

    async fn remaining(&self, token: &str) -> pgkv::Result<String> {
        Ok(match self.store.ttl(Session::key_format(token)).await? {
            Some(ttl) => format!("{}m{:02}s", ttl.as_secs() / 60, ttl.as_secs() % 60),
            None => "none".to_owned(),
        })
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    pgkv_suite::report(run().await)
}

async fn run() -> pgkv::Result<()> {
    let app = App {
        store: Store::connect(&pgkv_suite::example_database_url("sessions")).await?,
    };

    let ada = app.login(1, "ada").await?;
    println!("login ada             -> token {ada}");
    println!(
        "                         expires in {}",
        app.remaining(&ada).await?
    );
    show("GET /inbox as ada", app.request(&ada, "/inbox").await);

    // Simulate 25 idle minutes by shortening the expiry; the next request
    // slides the window back to a full 30 minutes.
    app.store
        .expire(Session::key_format(&ada), Duration::from_secs(5 * 60))
        .await?;
    println!(
        "(25 idle minutes)     -> expires in {}",
        app.remaining(&ada).await?
    );
    show("GET /settings as ada", app.request(&ada, "/settings").await);
    println!(
        "                         expires in {} again",
        app.remaining(&ada).await?
    );

    // A session left idle for 30 minutes is gone: simulate its last second.
    let grace = app.login(2, "grace").await?;
    println!("login grace           -> token {grace}");
    app.store
        .expire(Session::key_format(&grace), Duration::from_secs(1))
        .await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    println!("(30 idle minutes)");
    show("GET /inbox as grace", app.request(&grace, "/inbox").await);

    match app.logout(&ada).await? {
        Some(session) => println!("logout ada            -> ended {}'s session", session.username),
        None => println!("logout ada            -> no session"),
    }
    let again = app.logout(&ada).await?;
    println!(
        "logout ada again      -> {}",
        if again.is_some() {
            "ended it twice?!"
        } else {
            "no session"
        }
    );
    show("GET /inbox as ada", app.request(&ada, "/inbox").await);
    Ok(())
}

fn show(what: &str, response: Result<String, Rejected>) {
    match response {
        Ok(body) => println!("{what:<21} -> {body}"),
        Err(Rejected::Unauthorized) => println!("{what:<21} -> 401 rejected: no live session"),
        Err(Rejected::Store(e)) => println!("{what:<21} -> 503 store error: {e}"),
    }
}

/// A token from the clock, the process id and a counter, mixed.
///
/// Unique, but guessable by anyone who knows roughly when a login happened:
/// it keeps this example free of extra crates. A real application must draw
/// session tokens from a CSPRNG (for example the `getrandom` crate).
fn new_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let seed = nanos ^ (u64::from(std::process::id()) << 32);
    format!(
        "{:016x}{:016x}",
        splitmix64(seed),
        splitmix64(seed ^ splitmix64(count))
    )
}

/// SplitMix64's output function: spreads nearby inputs over all 64 bits.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
