//! pgkv 0.1 (synchronous).

use pgkv::TableType;

use crate::support::settings::Res;
use crate::work::Call;
use crate::{BATCH, SCAN_PREFIX};

use super::kv::items;

pub(crate) fn legacy_table_type(tt: TableType) -> pgkv_legacy::TableType {
    if tt == TableType::Unlogged {
        pgkv_legacy::TableType::Unlogged
    } else {
        pgkv_legacy::TableType::Regular
    }
}

pub(crate) fn legacy_set_many(store: &pgkv_legacy::Store, keys: &[String], value: &[u8]) -> Res<()> {
    store.set_many(&items(keys, value))?;
    Ok(())
}

/// The same for the synchronous pgkv 0.1, which cannot run inside a tokio
/// runtime (it blocks on one of its own in every call).
pub(crate) fn perform_legacy(s: &pgkv_legacy::Store, call: &Call<'_>, value: &[u8]) -> Res<usize> {
    Ok(match *call {
        Call::Set(k) => s.set(k, value).map(|()| 0)?,
        Call::Get(k) => usize::from(s.get(k)?.is_some()),
        Call::Delete(k) => usize::from(s.delete(k)?),
        Call::Increment(k) => s.increment(k, 1).map(|_| 0)?,
        Call::SetMany(keys) => legacy_set_many(s, keys, value).map(|()| 0)?,
        Call::GetMany(keys) => {
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            s.get_many(&keys)?.len()
        }
        // 0.1 has no keyset pagination: its first page of the prefix (the
        // cheapest page it can read).
        Call::Scan(_) => {
            let opts = pgkv_legacy::ScanOptions::new().prefix(SCAN_PREFIX).limit(BATCH);
            s.scan(opts)?.len()
        }
        // Never asked (`Op::runs_on`): 0.1 has no such command.
        Call::ExpireGt(..)
        | Call::MatchScan(_)
        | Call::IncrementEx(_)
        | Call::SetNxGetEx(..)
        | Call::Rename(..) => {
            return Err("pgkv 0.1 has no EXPIRE GT, MATCH, INCREMENT_EX, SET options or RENAME".into());
        }
    })
}
