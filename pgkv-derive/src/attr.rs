//! Parsing: `#[kv(...)]` on the struct and its fields, read with syn's
//! `parse_nested_meta`, into an [`Input`] that still holds raw expressions.
//! Syntax problems (unknown or repeated options, an option at the wrong
//! level) are recorded here; what the values mean is `valid`'s job.

use proc_macro2::TokenTree;
use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::{Attribute, Data, DeriveInput, Expr, Field, Fields, Meta, Path};

/// Options accepted in the struct's `#[kv(...)]`.
const STRUCT_OPTIONS: &[&str] = &["prefix", "ttl", "codec"];
/// Options accepted in a field's `#[kv(...)]`.
const FIELD_OPTIONS: &[&str] = &["key"];

const KEY_ON_STRUCT: &str = "`key` is a field option: put `#[kv(key)]` on the field that holds the key";
pub(crate) const KEY_IN_TUPLE_STRUCT: &str = "`#[kv(key)]` needs a named field, and a tuple \
     struct has none; name the fields (`struct Game { #[kv(key)] id: u64, .. }`) or pass the \
     key to `set_ex` yourself";
const KEY_IN_UNIT_STRUCT: &str = "`#[kv(key)]` needs a named field, and a unit struct has \
     none; pass the key to `set_ex` yourself";

/// The derive input with its `kv` attributes parsed but not yet checked.
pub(crate) struct Input<'a> {
    pub(crate) derive: &'a DeriveInput,
    /// The first `#[kv(...)]` on the struct: where "missing prefix" points.
    pub(crate) first_attr: Option<&'a Attribute>,
    /// `prefix = <expr>`: the option's name and its value (`None` when the
    /// value was missing or did not parse; that error is already recorded).
    pub(crate) prefix: Option<(Path, Option<Expr>)>,
    /// `ttl = <expr>`, likewise.
    pub(crate) ttl: Option<(Path, Option<Expr>)>,
    /// `codec = <expr>`, likewise.
    pub(crate) codec: Option<(Path, Option<Expr>)>,
    /// A `prefix` may have been written where it could not be read (a
    /// misspelling of it, an attribute that did not parse): "missing prefix"
    /// would only repeat that error.
    pub(crate) prefix_unreadable: bool,
    /// Every field marked `#[kv(key)]`, in declaration order.
    pub(crate) keys: Vec<KeyField<'a>>,
    /// Whether `key` was written anywhere, valid or not: the fallback then
    /// stubs `save` too, so calls to it add no errors of their own.
    pub(crate) wants_key: bool,
    /// Problems found while parsing, reported together with `valid`'s.
    pub(crate) errors: Errors,
}

/// A field marked `#[kv(key)]`.
pub(crate) struct KeyField<'a> {
    pub(crate) field: &'a Field,
    /// The `key` token, for errors about this mark.
    pub(crate) mark: Path,
}

impl<'a> Input<'a> {
    /// Reads every `kv` attribute of `derive`. Never fails: problems are
    /// collected in `errors` so that all of them reach the user at once.
    pub(crate) fn from_syn(derive: &'a DeriveInput) -> Self {
        let mut input = Input {
            derive,
            first_attr: None,
            prefix: None,
            ttl: None,
            codec: None,
            prefix_unreadable: false,
            keys: Vec::new(),
            wants_key: false,
            errors: Errors::default(),
        };
        for attr in derive.attrs.iter().filter(|attr| attr.path().is_ident("kv")) {
            input.first_attr.get_or_insert(attr);
            let parsed = list(attr, "#[kv(prefix = \"game-\", ttl = 3600)]")
                .and_then(|()| attr.parse_nested_meta(|meta| input.struct_option(meta)));
            input.prefix_unreadable |= parsed.is_err();
            input.errors.push_result(parsed);
        }
        // Fields of enum variants and unions are not read: deriving on them is
        // rejected as a whole, and one error is enough.
        if let Data::Struct(data) = &derive.data {
            for field in &data.fields {
                input.field_attrs(field);
            }
        }
        input
    }

    fn struct_option(&mut self, meta: ParseNestedMeta<'_>) -> syn::Result<()> {
        let name = path_name(&meta.path);
        match name.as_str() {
            "prefix" | "ttl" | "codec" => {
                let slot = match name.as_str() {
                    "prefix" => &mut self.prefix,
                    "ttl" => &mut self.ttl,
                    _ => &mut self.codec,
                };
                if slot.is_some() {
                    self.errors.push(syn::Error::new_spanned(
                        &meta.path,
                        format!("duplicate kv option `{name}`"),
                    ));
                    return skip_value(&meta);
                }
                // Seen before its value is read: an option whose value does not
                // parse must not also be reported as missing.
                let slot = slot.insert((meta.path.clone(), None));
                if !meta.input.peek(syn::Token![=]) {
                    let example = match name.as_str() {
                        "prefix" => "prefix = \"game-\"",
                        "ttl" => "ttl = 3600",
                        _ => "codec = \"postcard\"",
                    };
                    self.errors.push(syn::Error::new_spanned(
                        &meta.path,
                        format!("`{name}` takes a value: write `{example}`"),
                    ));
                    return skip_value(&meta);
                }
                slot.1 = Some(meta.value()?.parse()?);
                Ok(())
            }
            "key" => {
                self.wants_key = true;
                let message = match &self.derive.data {
                    Data::Struct(data) => match data.fields {
                        Fields::Named(_) => KEY_ON_STRUCT,
                        Fields::Unnamed(_) => KEY_IN_TUPLE_STRUCT,
                        Fields::Unit => KEY_IN_UNIT_STRUCT,
                    },
                    Data::Enum(_) | Data::Union(_) => KEY_ON_STRUCT,
                };
                self.errors.push(syn::Error::new_spanned(&meta.path, message));
                skip_value(&meta)
            }
            _ => {
                self.prefix_unreadable |= closest(&name, STRUCT_OPTIONS) == Some("prefix");
                self.errors.push(syn::Error::new_spanned(
                    &meta.path,
                    unknown_option("kv option", &name, STRUCT_OPTIONS),
                ));
                skip_value(&meta)
            }
        }
    }

    fn field_attrs(&mut self, field: &'a Field) {
        let mut mark: Option<Path> = None;
        for attr in field.attrs.iter().filter(|attr| attr.path().is_ident("kv")) {
            let parsed = list(attr, "#[kv(key)]").and_then(|()| {
                attr.parse_nested_meta(|meta| {
                    let name = path_name(&meta.path);
                    if name == "key" {
                        self.wants_key = true;
                        if mark.is_some() {
                            self.errors
                                .push(syn::Error::new_spanned(&meta.path, "duplicate kv option `key`"));
                        } else if meta.input.is_empty() || meta.input.peek(syn::Token![,]) {
                            mark = Some(meta.path);
                            return Ok(());
                        } else {
                            self.errors.push(syn::Error::new_spanned(
                                &meta.path,
                                "`key` takes no value: write `#[kv(key)]`",
                            ));
                        }
                    } else if STRUCT_OPTIONS.contains(&name.as_str()) {
                        self.errors.push(syn::Error::new_spanned(
                            &meta.path,
                            format!(
                                "`{name}` is a struct option: put it in the `#[kv(...)]` on the \
                             struct, not on a field"
                            ),
                        ));
                    } else {
                        self.errors.push(syn::Error::new_spanned(
                            &meta.path,
                            unknown_option("kv field option", &name, FIELD_OPTIONS),
                        ));
                    }
                    skip_value(&meta)
                })
            });
            self.errors.push_result(parsed);
        }
        if let Some(mark) = mark {
            self.keys.push(KeyField { field, mark });
        }
    }
}

/// Collects errors so that one derive reports all of them together.
#[derive(Default, Clone)]
pub(crate) struct Errors {
    errors: Vec<syn::Error>,
}

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        self.errors.push(error);
    }

    pub(crate) fn push_result(&mut self, result: syn::Result<()>) {
        if let Err(error) = result {
            self.push(error);
        }
    }

    /// `Err` with every error pushed, in source order, or `Ok(())` if there
    /// were none.
    pub(crate) fn finish(mut self) -> syn::Result<()> {
        // Found attribute by attribute, then check by check; shown top to
        // bottom, as the user reads the struct. Stable, so errors on one
        // token keep their order.
        if proc_macro::is_available() {
            self.errors.sort_by_key(|error| {
                let span = error.span().unwrap();
                (span.line(), span.column())
            });
        }
        let mut errors = self.errors.into_iter();
        let mut combined = errors.next().map_or(Ok(()), Err);
        if let Err(first) = &mut combined {
            errors.for_each(|error| first.combine(error));
        }
        combined
    }
}

/// `#[kv]` and `#[kv = ...]` are errors of their own, on the whole attribute.
fn list(attr: &Attribute, example: &str) -> syn::Result<()> {
    match &attr.meta {
        Meta::List(_) => Ok(()),
        meta => Err(syn::Error::new_spanned(
            meta,
            format!("expected a list of kv options in parentheses, as in `{example}`"),
        )),
    }
}

/// `prefix`, or `a::b` for a path that is no option at all.
fn path_name(path: &Path) -> String {
    match path.get_ident() {
        Some(ident) => ident.to_string(),
        None => path.to_token_stream().to_string().replace(' ', ""),
    }
}

/// Consumes whatever follows a rejected option (`= value`, `(...)`) up to the
/// next comma, so the options after it are still checked.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    meta.input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tree, next)) = rest.token_tree() {
            if matches!(&tree, TokenTree::Punct(punct) if punct.as_char() == ',') {
                break;
            }
            rest = next;
        }
        Ok(((), rest))
    })
}

/// "unknown kv option `prefx`; did you mean `prefix`?", or the list of valid
/// options when none is close.
fn unknown_option(what: &str, name: &str, valid: &[&str]) -> String {
    if let Some(close) = closest(name, valid) {
        return format!("unknown {what} `{name}`; did you mean `{close}`?");
    }
    let quoted: Vec<String> = valid.iter().map(|v| format!("`{v}`")).collect();
    match quoted.as_slice() {
        [] => format!("unknown {what} `{name}`"),
        [only] => format!("unknown {what} `{name}`; the only one is {only}"),
        [rest @ .., last] => format!("unknown {what} `{name}`; expected {} or {last}", rest.join(", ")),
    }
}

/// The valid option nearest to `name`, if it is near enough to be a typo:
/// at most one edit per three characters (a transposition counts as one).
pub(crate) fn closest<'v>(name: &str, valid: &[&'v str]) -> Option<&'v str> {
    let name = name.to_lowercase();
    valid
        .iter()
        .map(|candidate| (edit_distance(&name, candidate), *candidate))
        .filter(|(distance, candidate)| *distance <= (candidate.len() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Optimal string alignment distance: Levenshtein plus adjacent swaps.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::{closest, edit_distance, unknown_option};

    #[test]
    fn typos_get_a_suggestion() {
        assert_eq!(edit_distance("prefx", "prefix"), 1);
        assert_eq!(edit_distance("perfix", "prefix"), 1);
        assert_eq!(closest("prefx", &["prefix", "ttl"]), Some("prefix"));
        assert_eq!(closest("Prefix", &["prefix", "ttl"]), Some("prefix"));
        assert_eq!(closest("tll", &["prefix", "ttl"]), Some("ttl"));
        assert_eq!(closest("TTL", &["prefix", "ttl"]), Some("ttl"));
        assert_eq!(closest("kye", &["key"]), Some("key"));
        assert_eq!(closest("expiry", &["prefix", "ttl"]), None);
        assert_eq!(closest("pre", &["prefix", "ttl"]), None);
    }

    #[test]
    fn messages() {
        assert_eq!(
            unknown_option("kv option", "prefx", &["prefix", "ttl"]),
            "unknown kv option `prefx`; did you mean `prefix`?"
        );
        assert_eq!(
            unknown_option("kv option", "expiry", &["prefix", "ttl"]),
            "unknown kv option `expiry`; expected `prefix` or `ttl`"
        );
        assert_eq!(
            unknown_option("kv field option", "skip", &["key"]),
            "unknown kv field option `skip`; the only one is `key`"
        );
    }
}
