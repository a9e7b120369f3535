//! `#[derive(KvRecord)]` for pgkv. Use it through `pgkv` (`use pgkv::KvRecord;`),
//! which re-exports it beside the trait of the same name.
//!
//! The derive is parse (`attr`) → check (`valid`) → generate (`expand`).
//! Every problem is a `syn::Error` spanned on the token at fault; all of
//! them are reported together, beside a stub impl so that they are the only
//! errors the user sees.

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

mod attr;
mod expand;
mod valid;

/// Implements `pgkv::KvRecord` from `#[kv(prefix = "...", ttl = ...)]`, and
/// with one `#[kv(key)]` field adds `record.save(&store)`.
///
/// See the `KvRecord` trait in pgkv for what the methods do.
#[proc_macro_derive(KvRecord, attributes(kv))]
pub fn derive_kv_record(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    let parsed = attr::Input::from_syn(&input);
    match valid::check(&parsed) {
        Ok(record) => expand::derive(&record),
        Err(errors) => {
            let mut tokens = errors.into_compile_error();
            tokens.extend(expand::fallback(&parsed));
            tokens
        }
    }
    .into()
}
