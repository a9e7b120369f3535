//! Prefix scans: literal prefixes (and the literal start of a glob pattern)
//! turned into ranges on the primary key, keyset pagination with `after`,
//! and deleting a prefix in batches.

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::QueryAs;
use sqlx::{FromRow, Postgres};

use crate::base::input::check_no_nul;
use crate::base::pattern::Glob;
use crate::call::Conduit;
use crate::error::{Result, read_error, write_error};
use crate::sql::{RangeSql, Sql, Statements};

/// Which keys a scan returns, and which page of them.
///
/// ```
/// use pgkv::ScanOptions;
///
/// // The first page of up to 100 keys starting with "user:".
/// let first = ScanOptions::new().prefix("user:").limit(100);
/// // The next page: keyset pagination, as cheap as the first.
/// let next = ScanOptions::new().prefix("user:").limit(100).after("user:0042");
/// // Redis's `SCAN 0 MATCH session:*:cart COUNT 100`, in pages of 100 matches.
/// let carts = ScanOptions::new().pattern("session:*:cart").limit(100);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct ScanOptions {
    prefix: String,
    pattern: Option<String>,
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

    /// Only keys that match `glob` whole, in Redis's glob syntax (`SCAN ...
    /// MATCH`, `KEYS`):
    ///
    /// | in `glob` | matches |
    /// |---|---|
    /// | `*` | any run of characters, the empty one included |
    /// | `?` | exactly one character |
    /// | `[abc]`, `[a-z]` | one character of the set (a range's ends may come in either order) |
    /// | `[^a]`, `[!a]` | one character not in the set |
    /// | `\x` | the character `x` itself (`\*`, `\?`, `\[`, `\\`; `\]` inside a class) |
    /// | anything else | itself: `.`, `+`, `(`, `%`, `_`, `$` ... have no special meaning |
    ///
    /// A `]` right after `[` (or `[^`) closes the class, as in Redis: `[]`
    /// matches nothing and `[^]` any one character. `"*"` matches every key,
    /// `""` none. `limit`, `offset` and `after` count matching keys only.
    ///
    /// Differences from Redis: keys are UTF-8 text and a pattern works on
    /// characters (code points) where Redis works on bytes, so `?` and a
    /// class match one character, `é` or `日` as much as `a` (Redis's `?`
    /// matches one byte of it), and ranges compare code points; `[!a]`
    /// negates as in shell globs (Redis reads it as `!` or `a`); and a
    /// pattern Redis would read past its end (an unterminated `[`, a
    /// trailing `\`) is [`Error::InvalidPattern`](crate::Error::InvalidPattern),
    /// returned by the command before any SQL is sent.
    ///
    /// Cost: the literal characters before the first wildcard (`user:` in
    /// `user:*:cart`) become a range of the primary key, like
    /// [`prefix`](Self::prefix) (with both set, a key must start with both;
    /// when neither prefix begins the other, nothing matches and no SQL is
    /// sent); the server reads every key of that range and keeps those that
    /// match. A pattern that starts with a wildcard reads every key, as
    /// Redis's `SCAN MATCH` does. One that is a prefix and then only `*`
    /// costs exactly what the same `prefix` does.
    pub fn pattern(mut self, glob: &str) -> Self {
        self.pattern = Some(glob.to_owned());
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

    /// What to read, or `None` when no key can match (then nothing is sent).
    fn plan(&self, honour_after: bool) -> Result<Option<Plan>> {
        check_no_nul(&self.prefix)?;
        let after = self.after.as_deref().filter(|_| honour_after);
        if let Some(after) = after {
            check_no_nul(after)?;
        }
        let (prefix, regex) = match &self.pattern {
            None => (self.prefix.clone(), None),
            Some(pattern) => {
                let Some(glob) = Glob::parse(pattern)? else {
                    return Ok(None);
                };
                // A key starts with both prefixes: with the longer one, if the
                // shorter begins it.
                let prefix = if glob.prefix.starts_with(&self.prefix) {
                    glob.prefix
                } else if self.prefix.starts_with(&glob.prefix) {
                    self.prefix.clone()
                } else {
                    return Ok(None);
                };
                (prefix, glob.regex)
            }
        };
        let mut plan = Plan::prefix(prefix, regex);
        if let Some(after) = after
            && after >= plan.lower.as_str()
        {
            plan.start_after(after.to_owned());
        }
        Ok(Some(plan))
    }

    /// The options for the page after the one that ended with `last`: the
    /// same, starting strictly after `last`, with no offset.
    pub(crate) fn next_page(&self, last: &str) -> ScanOptions {
        let mut next = self.clone();
        next.offset = 0;
        next.after = Some(last.to_owned());
        next
    }

    /// The page size of a paged scan: `limit`, or 1,000.
    pub(crate) fn page_size(&self) -> u64 {
        self.limit.unwrap_or(1_000).max(1)
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

/// The rows a statement reads: a range of the primary key (`$1`, `$2`)
/// and, for a pattern, the regular expression its keys must match.
#[derive(Debug)]
struct Plan {
    lower: String,
    inclusive: bool,
    upper: Option<String>,
    regex: Option<String>,
}

/// Picks a statement family out of a table's set.
type Shapes = fn(&Statements) -> &RangeSql;

impl Plan {
    /// Every key starting with `prefix` (and matching `regex`).
    fn prefix(prefix: String, regex: Option<String>) -> Plan {
        Plan {
            upper: prefix_upper_bound(&prefix),
            lower: prefix,
            inclusive: true,
            regex,
        }
    }

    /// Moves the start of the range to just after `key`.
    fn start_after(&mut self, key: String) {
        self.lower = key;
        self.inclusive = false;
    }

    /// The statement of `shapes` for this range.
    fn statement<'s>(&self, shapes: &'s RangeSql) -> &'s Sql {
        shapes.pick(self.inclusive, self.upper.is_some())
    }

    /// The statement for this range: of the `plain` family, or of the
    /// `matching` one when there is a regular expression to apply.
    fn pick<'s>(&self, sql: &'s Statements, plain: Shapes, matching: Shapes) -> &'s Sql {
        self.statement(if self.regex.is_some() {
            matching(sql)
        } else {
            plain(sql)
        })
    }

    /// Binds the range, then the page (`LIMIT`, `OFFSET`) when there is one,
    /// then the regular expression when there is one: the parameter order
    /// of every range statement.
    fn bind<'q, O>(
        &'q self,
        query: QueryAs<'q, Postgres, O, PgArguments>,
        page: Option<(Option<i64>, i64)>,
    ) -> QueryAs<'q, Postgres, O, PgArguments> {
        let mut query = query.bind(self.lower.as_str()).bind(self.upper.as_deref());
        if let Some((limit, offset)) = page {
            query = query.bind(limit).bind(offset);
        }
        if let Some(regex) = &self.regex {
            query = query.bind(regex.as_str());
        }
        query
    }
}

/// One page of `opts`, read with the `plain` or `matching` statements.
async fn read_page<O>(
    s: &mut impl Conduit,
    opts: &ScanOptions,
    plain: Shapes,
    matching: Shapes,
) -> Result<Vec<O>>
where
    O: for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    let Some(plan) = opts.plan(true)? else {
        return Ok(Vec::new());
    };
    let sql = plan.pick(&s.shared().sql, plain, matching).query();
    plan.bind(sqlx::query_as(sql), Some(opts.page()))
        .fetch_all(s.connection().await?)
        .await
        .map_err(read_error)
}

pub(crate) async fn keys(s: &mut impl Conduit, opts: ScanOptions) -> Result<Vec<String>> {
    let rows: Vec<(String,)> = read_page(s, &opts, |q| &q.keys, |q| &q.keys_matching).await?;
    Ok(rows.into_iter().map(|(k,)| k).collect())
}

pub(crate) async fn scan(s: &mut impl Conduit, opts: ScanOptions) -> Result<Vec<KeyValue>> {
    let rows: Vec<(String, Vec<u8>)> = read_page(s, &opts, |q| &q.scan, |q| &q.scan_matching).await?;
    Ok(rows
        .into_iter()
        .map(|(key, value)| KeyValue { key, value })
        .collect())
}

pub(crate) async fn count(s: &mut impl Conduit, opts: ScanOptions) -> Result<u64> {
    let Some(plan) = opts.plan(false)? else {
        return Ok(0);
    };
    let sql = plan
        .pick(&s.shared().sql, |q| &q.count, |q| &q.count_matching)
        .query();
    let (n,): (i64,) = plan
        .bind(sqlx::query_as(sql), None)
        .fetch_one(s.connection().await?)
        .await
        .map_err(read_error)?;
    Ok(n.unsigned_abs())
}

/// `delete_prefix`: batches of `cleanup_batch` rows in key order, one
/// statement each, each starting after the last key the one before locked,
/// until a batch locks fewer rows than it may. Rows another session holds
/// are skipped, so each is passed over once and left in place.
pub(crate) async fn delete_prefix(s: &mut impl Conduit, prefix: &str) -> Result<u64> {
    check_no_nul(prefix)?;
    let batch = s.shared().cleanup_batch;
    // First the batches that skip rows other sessions hold, then (where
    // rows can be skipped at all) one more pass over what they left, in
    // batches that wait for those rows: every key under the prefix that
    // was there when the call began, and not written again meanwhile, is
    // gone when it returns.
    let mut removed = delete_range_in_batches(s, prefix, batch, |q| &q.delete_range_batch).await?;
    if !s.shared().sql.citus {
        // Behind a transaction-mode pooler the first pass's last batch is
        // committed first, as every batch is.
        s.checkpoint().await?;
        removed += delete_range_in_batches(s, prefix, batch, |q| &q.delete_range_batch_waiting).await?;
    }
    Ok(removed)
}

/// Runs one of the batched range deletes over `prefix`'s range, a batch of
/// `batch` rows per statement, until a batch comes back short; returns how
/// many live keys were removed.
async fn delete_range_in_batches(
    s: &mut impl Conduit,
    prefix: &str,
    batch: i64,
    pick: fn(&Statements) -> &RangeSql,
) -> Result<u64> {
    let mut plan = Plan::prefix(prefix.to_owned(), None);
    let mut removed = 0;
    loop {
        let sql = plan.statement(pick(&s.shared().sql)).query();
        let (locked, last, live): (i64, Option<String>, i64) = plan
            .bind(sqlx::query_as(sql), None)
            .bind(batch)
            .fetch_one(s.connection().await?)
            .await
            .map_err(write_error)?;
        removed += live.unsigned_abs();
        match last {
            Some(last) if locked >= batch => plan.start_after(last),
            _ => return Ok(removed),
        }
        s.checkpoint().await?;
        tokio::task::yield_now().await;
    }
}

/// `delete_prefix_atomic`: the whole range in one statement.
pub(crate) async fn delete_prefix_atomic(s: &mut impl Conduit, prefix: &str) -> Result<u64> {
    check_no_nul(prefix)?;
    let plan = Plan::prefix(prefix.to_owned(), None);
    let sql = plan.statement(&s.shared().sql.delete_range).query();
    let (n,): (i64,) = plan
        .bind(sqlx::query_as(sql), None)
        .fetch_one(s.connection().await?)
        .await
        .map_err(write_error)?;
    Ok(n.unsigned_abs())
}

/// `EXPLAIN` of the statement `keys(opts)` would run, as the server plans it.
pub(crate) async fn explain_keys(s: &mut impl Conduit, opts: ScanOptions) -> Result<String> {
    let Some(plan) = opts.plan(true)? else {
        return Ok(
            "No statement: no key can match (the prefix and the pattern's literal prefix \
                   disagree, or the pattern holds `[]`)"
                .to_owned(),
        );
    };
    let sql = plan.pick(&s.shared().sql, |q| &q.keys, |q| &q.keys_matching);
    let explain = format!("EXPLAIN {}", sql.query().as_str());
    let lines: Vec<(String,)> = plan
        .bind(sqlx::query_as(sqlx::AssertSqlSafe(explain)), Some(opts.page()))
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
        let plan = |o: ScanOptions| o.plan(true).unwrap().expect("a plan");
        let p = plan(ScanOptions::new().prefix("b").after("a"));
        assert_eq!((p.lower.as_str(), p.inclusive), ("b", true));
        let p = plan(ScanOptions::new().prefix("b").after("b1"));
        assert_eq!((p.lower.as_str(), p.inclusive), ("b1", false));
        assert!(ScanOptions::new().prefix("a\0").plan(true).is_err());
        assert!(ScanOptions::new().after("a\0").plan(true).is_err());
        // count ignores `after`, its NUL included.
        assert!(ScanOptions::new().after("a\0").plan(false).is_ok());
    }

    #[test]
    fn a_pattern_and_a_prefix_intersect() {
        let plan = |o: ScanOptions| o.plan(true).unwrap();
        let p = plan(ScanOptions::new().prefix("user:").pattern("user:1*:x")).unwrap();
        assert_eq!((p.lower.as_str(), p.upper.as_deref()), ("user:1", Some("user:2")));
        assert_eq!(p.regex.as_deref(), Some("^user\\:1.*\\:x$"));
        let p = plan(ScanOptions::new().prefix("user:12").pattern("user:*")).unwrap();
        assert_eq!(
            (p.lower.as_str(), p.upper.as_deref()),
            ("user:12", Some("user:13"))
        );
        assert_eq!(p.regex, None);
        let p = plan(ScanOptions::new().pattern("*x")).unwrap();
        assert_eq!((p.lower.as_str(), p.upper), ("", None));
        assert!(plan(ScanOptions::new().prefix("user:").pattern("admin:*")).is_none());
        assert!(plan(ScanOptions::new().pattern("a[]")).is_none());
        assert!(matches!(
            ScanOptions::new().pattern("a[").plan(false),
            Err(crate::Error::InvalidPattern { .. })
        ));
    }
}
