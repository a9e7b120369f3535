//! The list of key/value methods, written once with their documentation.
//! `Store` and `Transaction` each expand it into thin methods that forward to
//! the shared implementation in `ops`/`scan`; only how a call gets its
//! connection differs.

/// Calls `$emit!` with every key/value method: its docs, name, generic
/// parameters, arguments, return type and implementing function.
macro_rules! for_each_kv_method {
    ($emit:ident) => {
        $emit! {
            /// Stores `value` under `key`, replacing any value and clearing any TTL.
            ///
            /// One `INSERT ... ON CONFLICT DO UPDATE`.
            fn set<K: AsRef<str>, V: AsRef<[u8]>>(key: K, value: V) -> () = crate::ops::set;

            /// The value of `key`, or `None` if it is absent or expired.
            ///
            /// One `SELECT` (under `OnRead`, it also deletes the row if it has expired).
            fn get<K: AsRef<str>>(key: K) -> Option<Vec<u8>> = crate::ops::get;

            /// The value of `key` as a `String`; invalid UTF-8 is an
            /// [`Error::InvalidUtf8`](crate::Error::InvalidUtf8), never replaced lossily.
            fn get_string<K: AsRef<str>>(key: K) -> Option<String> = crate::ops::get_string;

            /// The value of `key`, or an error whose
            /// [`is_not_found`](crate::Error::is_not_found) is true.
            fn get_or_err<K: AsRef<str>>(key: K) -> Vec<u8> = crate::ops::get_or_err;

            /// Deletes `key`; true if a live key was removed (an expired row is
            /// removed too, but reports false).
            fn delete<K: AsRef<str>>(key: K) -> bool = crate::ops::delete;

            /// True if `key` is present and not expired.
            fn exists<K: AsRef<str>>(key: K) -> bool = crate::ops::exists;

            /// Stores `value` only if `key` is absent (an expired key counts as
            /// absent); true if it was stored. Exactly one of many concurrent
            /// callers wins.
            fn set_nx<K: AsRef<str>, V: AsRef<[u8]>>(key: K, value: V) -> bool = crate::ops::set_nx;

            /// Replaces the value only if `key` is present (memcached `replace`,
            /// Redis `SET XX`); keeps the TTL. True if replaced.
            fn replace<K: AsRef<str>, V: AsRef<[u8]>>(key: K, value: V) -> bool = crate::ops::replace;

            /// Stores `value` under `key`, expiring `ttl` from now (server clock).
            fn set_ex<K: AsRef<str>, V: AsRef<[u8]>>(key: K, value: V, ttl: std::time::Duration) -> () = crate::ops::set_ex;

            /// `set_nx` with a TTL: the lock/lease primitive (Redis `SET NX EX`).
            fn set_nx_ex<K: AsRef<str>, V: AsRef<[u8]>>(key: K, value: V, ttl: std::time::Duration) -> bool = crate::ops::set_nx_ex;

            /// Reads `key` and moves its expiry to now + `ttl` in the same
            /// statement (Redis `GETEX`): a sliding session.
            fn get_ex<K: AsRef<str>>(key: K, ttl: std::time::Duration) -> Option<Vec<u8>> = crate::ops::get_ex;

            /// Sets the expiry of an existing key to now + `ttl`; false if absent.
            fn expire<K: AsRef<str>>(key: K, ttl: std::time::Duration) -> bool = crate::ops::expire;

            /// Remaining time to live, never rounded up (microsecond precision);
            /// `None` if the key is absent or has no expiry.
            fn ttl<K: AsRef<str>>(key: K) -> Option<std::time::Duration> = crate::ops::ttl;

            /// Removes the expiry of `key`; true if it had one.
            fn persist<K: AsRef<str>>(key: K) -> bool = crate::ops::persist;

            /// Stores every pair in one statement, all or nothing. A repeated
            /// key: the last pair wins. Any invalid item rejects the whole batch
            /// before anything is sent.
            fn set_many<K: AsRef<str>, V: AsRef<[u8]>>(items: &[(K, V)]) -> () = crate::ops::set_many;

            /// `set_many` with one TTL for every pair.
            fn set_many_ex<K: AsRef<str>, V: AsRef<[u8]>>(items: &[(K, V)], ttl: std::time::Duration) -> () = crate::ops::set_many_ex;

            /// The values of `keys`, aligned with `keys` (duplicates included).
            fn get_many<K: AsRef<str>>(keys: &[K]) -> Vec<Option<Vec<u8>>> = crate::ops::get_many;

            /// Deletes `keys`; returns how many live keys were removed.
            fn delete_many<K: AsRef<str>>(keys: &[K]) -> u64 = crate::ops::delete_many;

            /// Adds `by` to the integer stored at `key` and returns the result.
            /// An absent key starts at 0. The value is stored as ASCII decimal
            /// (`get_string` reads `"5"`); the TTL is kept. A value that is not
            /// strictly `-?[0-9]+` is [`Error::NotAnInteger`](crate::Error::NotAnInteger),
            /// leaving `i64` is [`Error::Overflow`](crate::Error::Overflow); either way the value is unchanged.
            fn increment<K: AsRef<str>>(key: K, by: i64) -> i64 = crate::ops::increment;

            /// Subtracts `by`; the same rules as `increment`.
            fn decrement<K: AsRef<str>>(key: K, by: i64) -> i64 = crate::ops::decrement;

            /// Replaces the value with `new` only if it currently equals
            /// `expected`; `expected == None` means "only if absent". A
            /// successful swap of an existing key keeps its TTL.
            fn compare_and_swap<K: AsRef<str>, V: AsRef<[u8]>>(key: K, expected: Option<&[u8]>, new: V) -> crate::CasResult = crate::ops::compare_and_swap;

            /// Stores `value` and returns exactly the value it replaced, also
            /// when racing other writers; clears the TTL.
            fn get_and_set<K: AsRef<str>, V: AsRef<[u8]>>(key: K, value: V) -> Option<Vec<u8>> = crate::ops::get_and_set;

            /// Deletes `key` and returns its value; of many concurrent callers,
            /// exactly one gets it.
            fn get_and_delete<K: AsRef<str>>(key: K) -> Option<Vec<u8>> = crate::ops::get_and_delete;

            /// Keys matching `opts`, in ascending byte order. Reads a range of
            /// the primary key index.
            fn keys<>(opts: crate::ScanOptions) -> Vec<String> = crate::scan::keys;

            /// Keys and values matching `opts`, in ascending byte order.
            fn scan<>(opts: crate::ScanOptions) -> Vec<crate::KeyValue> = crate::scan::scan;

            /// How many live keys match `opts`' prefix (limit, offset and after are ignored).
            fn count<>(opts: crate::ScanOptions) -> u64 = crate::scan::count;

            /// Deletes every key starting with `prefix` (`""` deletes every key);
            /// returns how many live keys were removed.
            fn delete_prefix<>(prefix: &str) -> u64 = crate::scan::delete_prefix;

            /// The server's `EXPLAIN` of the statement [`keys`](Self::keys)
            /// would run for `opts`: a diagnostic for checking index use.
            fn explain_keys<>(opts: crate::ScanOptions) -> String = crate::scan::explain_keys;
        }
    };
}

pub(crate) use for_each_kv_method;
