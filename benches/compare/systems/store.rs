//! pgkv 0.2: this crate's `Store`.

use std::time::Duration;

use pgkv::{ExpireWhen, ScanOptions, SetOptions, Store};

use crate::support::settings::Res;
use crate::{BATCH, INCREMENT_TTL_SECS, MATCH_PATTERN, NX_TTL_SECS};

use super::kv::{Kv, items};

pub(crate) struct Pgkv {
    pub(crate) store: Store,
    pub(crate) scan_prefix: String,
}

impl Kv for Pgkv {
    async fn set(&mut self, key: &str, value: &[u8]) -> Res<()> {
        Ok(self.store.set(key, value).await?)
    }

    async fn get(&mut self, key: &str) -> Res<bool> {
        Ok(self.store.get(key).await?.is_some())
    }

    async fn delete(&mut self, key: &str) -> Res<bool> {
        Ok(self.store.delete(key).await?)
    }

    async fn increment(&mut self, key: &str) -> Res<i64> {
        Ok(self.store.increment(key, 1).await?)
    }

    async fn set_many(&mut self, keys: &[String], value: &[u8]) -> Res<()> {
        Ok(self.store.set_many(&items(keys, value)).await?)
    }

    async fn get_many(&mut self, keys: &[String]) -> Res<usize> {
        Ok(self.store.get_many(keys).await?.len())
    }

    async fn scan(&mut self, after: &str) -> Res<usize> {
        let opts = ScanOptions::new()
            .prefix(&self.scan_prefix)
            .after(after)
            .limit(BATCH as u64);
        Ok(self.store.scan(opts).await?.len())
    }

    async fn expire_gt(&mut self, key: &str, secs: u64) -> Res<bool> {
        Ok(self
            .store
            .expire_if(key, Duration::from_secs(secs), ExpireWhen::Later)
            .await?)
    }

    async fn match_page(&mut self, after: &str) -> Res<Vec<String>> {
        let opts = ScanOptions::new()
            .pattern(MATCH_PATTERN)
            .limit(BATCH as u64)
            .after(after);
        Ok(self.store.keys(opts).await?)
    }

    async fn increment_ex(&mut self, key: &str) -> Res<i64> {
        Ok(self
            .store
            .increment_ex(key, 1, Duration::from_secs(INCREMENT_TTL_SECS))
            .await?)
    }

    async fn set_many_ex(&mut self, keys: &[String], value: &[u8], secs: u64) -> Res<()> {
        Ok(self
            .store
            .set_many_ex(&items(keys, value), Duration::from_secs(secs))
            .await?)
    }
    async fn set_nx_get_ex(&mut self, key: &str, value: &[u8]) -> Res<(bool, Option<Vec<u8>>)> {
        let opts = SetOptions::new()
            .only_if_absent()
            .previous()
            .expire_in(Duration::from_secs(NX_TTL_SECS));
        let outcome = self.store.set_with(key, value, opts).await?;
        Ok((outcome.written, outcome.previous))
    }

    async fn rename(&mut self, from: &str, to: &str) -> Res<bool> {
        Ok(self.store.rename(from, to).await?)
    }

    async fn delete_many(&mut self, keys: &[String]) -> Res<()> {
        self.store.delete_many(keys).await?;
        Ok(())
    }
}
