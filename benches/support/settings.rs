//! The error type of the benches that report errors rather than panic, and
//! their settings read from the environment.

use std::str::FromStr;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub(crate) type Res<T> = Result<T, BoxError>;

/// `name`'s value, parsed; `default` when it is unset or empty, an error
/// when it does not parse.
pub(crate) fn env_parse<T: FromStr>(name: &str, default: T) -> Res<T> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v
            .parse()
            .map_err(|_| format!("{name}={v:?} is not a valid value").into()),
        _ => Ok(default),
    }
}
