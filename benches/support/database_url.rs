//! Where a bench finds its PostgreSQL.

/// `DATABASE_URL`; when it is unset or empty, `None`, after saying on stderr
/// how to run `bench` (`scripts/with-postgres cargo bench --bench <bench>`).
pub(crate) fn database_url(bench: &str) -> Option<String> {
    let url = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!(
            "{bench} bench: needs DATABASE_URL; run it with\n    scripts/with-postgres cargo bench --bench {bench}"
        );
    }
    url
}
