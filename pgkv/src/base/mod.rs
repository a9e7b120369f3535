//! The ground floor above `error`: checks on user input, the expiry
//! vocabulary, `SET` options, glob patterns, the generator, background
//! tasks, telemetry and value codecs. Nothing here knows a table or a
//! connection.

pub(crate) mod background;
#[cfg(feature = "json")]
pub(crate) mod codec;
pub(crate) mod expiry;
pub(crate) mod input;
#[cfg(feature = "json")]
pub(crate) mod json;
pub(crate) mod observe;
pub(crate) mod pattern;
pub(crate) mod set_options;
pub(crate) mod xorshift;
