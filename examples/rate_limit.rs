//! Rate limiting HTTP-style requests, as an axum middleware would: every
//! request checks its client's limit first and gets `429 Too Many Requests`
//! with a `Retry-After` header when over it.
//!
//! Three clients send 50 requests each, all at once, against two limits:
//! a fixed window (10 per minute per client) and a smooth GCRA limit
//! (60 per minute, bursts of 5). The admitted counts are exact.
//!
//! ```text
//! scripts/with-postgres cargo run --example rate_limit
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use pgkv::{Config, Quota, RateDecision, Store};
use pgkv_suite::{example_database_url, report};

/// What a handler would answer: a status and its headers.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(&'static str, String)>,
}

/// Which limit the middleware applies.
#[derive(Clone, Copy)]
enum Limit {
    Fixed { limit: u64, window: Duration },
    Smooth(Quota),
}

/// The middleware: one statement per request, then the handler or a 429.
async fn rate_limited(store: &Store, limit: Limit, client: &str) -> pgkv::Result<Response> {
    let decision: RateDecision = match limit {
        Limit::Fixed { limit, window } => {
            store
                .rate_limit(format!("rl:fixed:{client}"), limit, window)
                .await?
        }
        Limit::Smooth(quota) => store.rate_limit_gcra(format!("rl:gcra:{client}"), quota).await?,
    };
    let mut headers = vec![("RateLimit-Remaining", decision.remaining.to_string())];
    if !decision.allowed {
        // Retry-After is in whole seconds; round up so a retry is admitted.
        let secs = decision.retry_after.as_micros().div_ceil(1_000_000);
        headers.push(("Retry-After", secs.to_string()));
        return Ok(Response { status: 429, headers });
    }
    Ok(Response { status: 200, headers })
}

async fn burst(store: &Store, limit: Limit, name: &str) -> pgkv::Result<()> {
    let mut tasks = Vec::new();
    for client in ["alice", "bob", "carol"] {
        for _ in 0..50 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                (client, rate_limited(&store, limit, client).await)
            }));
        }
    }
    let mut admitted: BTreeMap<&str, u32> = BTreeMap::new();
    let mut a_429 = None;
    for task in tasks {
        let (client, response) = task.await.expect("request task");
        let response = response?;
        let count = admitted.entry(client).or_default();
        if response.status == 200 {
            *count += 1;
        } else {
            a_429.get_or_insert(response);
        }
    }
    println!("{name}: admitted per client out of 50 concurrent requests: {admitted:?}");
    if let Some(r) = a_429 {
        println!("  a rejected request: {} {:?}", r.status, r.headers);
    }
    Ok(())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let url = example_database_url("rate_limit");
    let store = Store::with_config(Config::new(url).table_name("example_rate_limit")).await?;
    let minute = Duration::from_secs(60);
    burst(
        &store,
        Limit::Fixed {
            limit: 10,
            window: minute,
        },
        "fixed window, 10/min",
    )
    .await?;
    burst(
        &store,
        Limit::Smooth(Quota::per(60, minute).burst(5)),
        "GCRA, 60/min with bursts of 5",
    )
    .await?;
    sqlx::query("DROP TABLE example_rate_limit")
        .execute(store.pool())
        .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    report(run().await)
}
