//! Prefix scans: literal prefixes turned into ranges on the primary key, and
//! keyset pagination with `after`.

use crate::call::Conduit;
use crate::error::{Result, read_error, write_error};
use crate::input::check_no_nul;
use crate::sql::RangeSql;

/// Which keys a scan returns, and which page of them.
///
/// ```
/// use pgkv::ScanOptions;
///
/// // The first page of up to 100 keys starting with "user:".
/// let first = ScanOptions::new().prefix("user:").limit(100);
/// // The next page: keyset pagination, as cheap as the first.
/// let next = ScanOptions::new().prefix("user:").limit(100).after("user:0042");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct ScanOptions {
    prefix: String,
    limit: Option<u64>,
    offset: u64,
    after: Option<String>,
}

/// A key/value pair returned by [`Store::scan`](crate::Store::scan).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// The value's bytes.
    pub value: Vec<u8>,
}

impl ScanOptions {
    /// Every key, in ascending byte order.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only keys starting with `prefix`, compared byte for byte: `%`, `_` and
    /// `\` are ordinary characters. `""` matches every key.
    pub fn prefix(mut self, prefix: &str) -> Self {
        prefix.clone_into(&mut self.prefix);
        self
    }

    /// At most `limit` results (default: all).
    pub fn limit(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Skip the first `offset` matches. The server still reads the skipped
    /// rows; prefer [`after`](Self::after) for deep pages.
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    /// Start strictly after `key` (keyset pagination: pass the last key of
    /// the previous page; each page costs the same however deep it is).
    pub fn after(mut self, key: &str) -> Self {
        self.after = Some(key.to_owned());
        self
    }

    /// The key range to read: `(lower, lower_inclusive, upper)`.
    fn range(&self, honour_after: bool) -> Result<(&str, bool, Option<String>)> {
        check_no_nul(&self.prefix)?;
        let upper = prefix_upper_bound(&self.prefix);
        match &self.after {
            Some(after) if honour_after => {
                check_no_nul(after)?;
                if after.as_str() >= self.prefix.as_str() {
                    Ok((after, false, upper))
                } else {
                    Ok((&self.prefix, true, upper))
                }
            }
            _ => Ok((&self.prefix, true, upper)),
        }
    }

    fn page(&self) -> (Option<i64>, i64) {
        // Row counts beyond i64::MAX cannot exist; clamping changes nothing.
        let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        (self.limit.map(clamp), clamp(self.offset))
    }
}

/// The smallest string greater than every string that starts with `prefix`,
/// in byte order (which is code point order for UTF-8); `None` when no such
/// string exists (empty prefix, or only U+10FFFF characters).
pub(crate) fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(u32::from(c) + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

fn bound_query<'q, O>(
    shapes: &RangeSql,
    lower: &'q str,
    inclusive: bool,
    upper: Option<String>,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>
where
    O: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
{
    let sql = shapes.pick(inclusive, upper.is_some()).query();
    sqlx::query_as(sql).bind(lower).bind(upper)
}

pub(crate) async fn keys(s: &mut impl Conduit, opts: ScanOptions) -> Result<Vec<String>> {
    let (lower, inclusive, upper) = opts.range(true)?;
    let (limit, offset) = opts.page();
    let rows: Vec<(String,)> = bound_query(&s.shared().sql.keys, lower, inclusive, upper)
        .bind(limit)
        .bind(offset)
        .fetch_all(s.connection().await?)
        .await
        .map_err(read_error)?;
    Ok(rows.into_iter().map(|(k,)| k).collect())
}

pub(crate) async fn scan(s: &mut impl Conduit, opts: ScanOptions) -> Result<Vec<KeyValue>> {
    let (lower, inclusive, upper) = opts.range(true)?;
    let (limit, offset) = opts.page();
    let rows: Vec<(String, Vec<u8>)> = bound_query(&s.shared().sql.scan, lower, inclusive, upper)
        .bind(limit)
        .bind(offset)
        .fetch_all(s.connection().await?)
        .await
        .map_err(read_error)?;
    Ok(rows
        .into_iter()
        .map(|(key, value)| KeyValue { key, value })
        .collect())
}

pub(crate) async fn count(s: &mut impl Conduit, opts: ScanOptions) -> Result<u64> {
    let (lower, inclusive, upper) = opts.range(false)?;
    let (n,): (i64,) = bound_query(&s.shared().sql.count, lower, inclusive, upper)
        .fetch_one(s.connection().await?)
        .await
        .map_err(read_error)?;
    Ok(n.unsigned_abs())
}

pub(crate) async fn delete_prefix(s: &mut impl Conduit, prefix: &str) -> Result<u64> {
    let opts = ScanOptions::new().prefix(prefix);
    let (lower, inclusive, upper) = opts.range(false)?;
    let (n,): (i64,) = bound_query(&s.shared().sql.delete_range, lower, inclusive, upper)
        .fetch_one(s.connection().await?)
        .await
        .map_err(write_error)?;
    Ok(n.unsigned_abs())
}

/// `EXPLAIN` of the statement `keys(opts)` would run, as the server plans it.
pub(crate) async fn explain_keys(s: &mut impl Conduit, opts: ScanOptions) -> Result<String> {
    let (lower, inclusive, upper) = opts.range(true)?;
    let (limit, offset) = opts.page();
    let sql = s.shared().sql.keys.pick(inclusive, upper.is_some()).query();
    let explain = format!("EXPLAIN {}", sql.as_str());
    let lines: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(explain))
        .bind(lower)
        .bind(upper)
        .bind(limit)
        .bind(offset)
        .fetch_all(s.connection().await?)
        .await
        .map_err(read_error)?;
    Ok(lines.into_iter().map(|(l,)| l).collect::<Vec<_>>().join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_bounds() {
        assert_eq!(prefix_upper_bound(""), None);
        assert_eq!(prefix_upper_bound("a").as_deref(), Some("b"));
        assert_eq!(prefix_upper_bound("user:").as_deref(), Some("user;"));
        assert_eq!(prefix_upper_bound("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_upper_bound("\u{10FFFF}\u{10FFFF}"), None);
        assert_eq!(prefix_upper_bound("x\u{D7FF}").as_deref(), Some("x\u{E000}"));
        assert_eq!(prefix_upper_bound("%").as_deref(), Some("&"));
    }

    #[test]
    fn every_extension_sorts_below_the_bound() {
        for prefix in ["a", "é", "a\u{10FFFF}", "\u{D7FF}", "zz"] {
            let upper = prefix_upper_bound(prefix).expect("bounded");
            for suffix in ["", "\u{1}", "zzz", "\u{10FFFF}\u{10FFFF}"] {
                let key = format!("{prefix}{suffix}");
                assert!(key.as_bytes() < upper.as_bytes(), "{key:?} !< {upper:?}");
            }
            assert!(upper.as_bytes() > prefix.as_bytes());
        }
    }

    #[test]
    fn after_moves_the_lower_bound_only_forward() {
        let o = ScanOptions::new().prefix("b").after("a");
        assert_eq!(o.range(true).unwrap().0, "b");
        assert!(o.range(true).unwrap().1);
        let o = ScanOptions::new().prefix("b").after("b1");
        assert_eq!(o.range(true).unwrap().0, "b1");
        assert!(!o.range(true).unwrap().1);
        assert!(ScanOptions::new().prefix("a\0").range(true).is_err());
    }
}
