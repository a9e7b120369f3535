//! A command's route for [`KvCommands`](crate::KvCommands): a pooled call
//! of a store, or a statement of an open transaction. It lives beside the
//! handles (as sqlx keeps `MaybePoolConnection` beside its pool), so `call`
//! never names a handle.

use std::sync::Arc;

use crate::call::batching::BatchRoute;
use crate::call::written::Written;
use crate::call::{Conduit, PooledCall, Shared};
use crate::conn::wire::Wire;
use crate::error::Result;
use crate::handle::transaction::Transaction;

/// One command's way to the server, for [`KvCommands`](crate::KvCommands).
/// Not public API: it appears in the trait only so that pgkv's handles can
/// implement it.
#[derive(Debug)]
pub struct Call<'a>(Route<'a>);

#[derive(Debug)]
enum Route<'a> {
    Pooled(PooledCall<'a>),
    Transaction(&'a mut Transaction),
}

impl<'a> Call<'a> {
    /// A command of a store: a pooled connection, leased on first use.
    pub(crate) fn pooled(shared: &'a Arc<Shared>) -> Call<'a> {
        Call(Route::Pooled(PooledCall::new(shared)))
    }

    /// A command inside an open transaction.
    pub(crate) fn transaction(tx: &'a mut Transaction) -> Call<'a> {
        tx.start_call();
        Call(Route::Transaction(tx))
    }

    /// Ends the command with its result, which it returns, through
    /// [`Shared::conclude`] (`written`: what the command may have changed;
    /// inside a transaction it is also kept for the commit).
    pub(crate) async fn finish<T>(self, written: Written, result: Result<T>) -> Result<T> {
        match self.0 {
            Route::Pooled(call) => {
                let shared = call.shared;
                let result = call.finish(result).await;
                shared.conclude(&written, result)
            }
            Route::Transaction(tx) => {
                tx.observe(&result);
                let result = tx.shared().conclude(&written, result);
                tx.wrote(written);
                result
            }
        }
    }
}

impl Conduit for Call<'_> {
    fn shared(&self) -> &Shared {
        match &self.0 {
            Route::Pooled(call) => call.shared(),
            Route::Transaction(tx) => tx.shared(),
        }
    }

    async fn connection(&mut self) -> Result<Wire<'_>> {
        match &mut self.0 {
            Route::Pooled(call) => call.connection().await,
            Route::Transaction(tx) => tx.connection().await,
        }
    }

    fn can_resend(&self) -> bool {
        match &self.0 {
            Route::Pooled(call) => call.can_resend(),
            Route::Transaction(tx) => tx.can_resend(),
        }
    }

    async fn resend(&mut self) -> Result<()> {
        match &mut self.0 {
            Route::Pooled(call) => call.resend().await,
            Route::Transaction(tx) => tx.resend().await,
        }
    }

    async fn checkpoint(&mut self) -> Result<()> {
        match &mut self.0 {
            Route::Pooled(call) => call.checkpoint().await,
            Route::Transaction(tx) => tx.checkpoint().await,
        }
    }

    fn in_transaction(&self) -> bool {
        match &self.0 {
            Route::Pooled(call) => call.in_transaction(),
            Route::Transaction(tx) => tx.in_transaction(),
        }
    }

    async fn batch_route(&mut self) -> Result<Option<BatchRoute>> {
        match &mut self.0 {
            Route::Pooled(call) => call.batch_route().await,
            Route::Transaction(tx) => tx.batch_route().await,
        }
    }
}
