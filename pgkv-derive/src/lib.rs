//! `#[derive(KvRecord)]` for pgkv. Use it through `pgkv` (`use pgkv::KvRecord;`).

use proc_macro::TokenStream;

/// Placeholder until the derive lands; see pgkv's `KvRecord` trait.
#[proc_macro_derive(KvRecord, attributes(kv))]
pub fn derive_kv_record(input: TokenStream) -> TokenStream {
    let _ = input;
    TokenStream::new()
}
