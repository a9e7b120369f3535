//! Checking: turns the parsed [`Input`] into a [`Record`] whose values are
//! known good, or into every error found (parse errors included), each
//! spanned on the token at fault.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Expr, Ident, Lit, LitStr, Type, UnOp};

use crate::attr::{Errors, Input, KEY_IN_TUPLE_STRUCT};

/// `pgkv::MAX_TTL` in seconds (1,000 years of 366 days). Checked here so a
/// too-long TTL is a compile error on the literal rather than an error on
/// every call; the integration suite pins the two values together.
const MAX_TTL_SECS: u64 = 1000 * 366 * 24 * 60 * 60;

/// What the derive expands: every value checked.
pub(crate) struct Record<'a> {
    pub(crate) derive: &'a DeriveInput,
    pub(crate) prefix: LitStr,
    /// Seconds, and the span of the literal they came from.
    pub(crate) ttl: Option<(u64, Span)>,
    /// The `#[kv(key)]` field's name and type.
    pub(crate) key: Option<(&'a Ident, &'a Type)>,
    /// The codec type when not the default (JSON).
    pub(crate) codec: Option<syn::Path>,
}

/// The record described by `input`, or all the errors in it combined.
pub(crate) fn check<'a>(input: &Input<'a>) -> syn::Result<Record<'a>> {
    let mut errors = input.errors.clone();
    check_data(input, &mut errors);
    let key = check_keys(input, &mut errors);

    let prefix = match &input.prefix {
        Some((_, Some(value))) => check_prefix(value, &mut errors),
        // Named but without a usable value: already reported while parsing.
        Some((_, None)) => None,
        None if input.prefix_unreadable => None,
        None => {
            errors.push(match input.first_attr {
                Some(attr) => syn::Error::new_spanned(attr, MISSING_PREFIX),
                None => syn::Error::new_spanned(&input.derive.ident, MISSING_PREFIX),
            });
            None
        }
    };
    let ttl = match &input.ttl {
        Some((_, Some(value))) => check_ttl(value, &mut errors),
        _ => None,
    };
    let codec = match &input.codec {
        Some((_, Some(value))) => check_codec(value, &mut errors),
        _ => None,
    };

    errors.finish()?;
    Ok(Record {
        derive: input.derive,
        // Always `Some` once there are no errors; the fallback keeps the
        // derive from panicking should that ever change.
        prefix: prefix.ok_or_else(|| syn::Error::new_spanned(&input.derive.ident, MISSING_PREFIX))?,
        ttl,
        key,
        codec,
    })
}

/// The codecs `codec = "..."` names.
const CODECS: &[&str] = &["json", "postcard"];

/// `codec = "json"` (the default: `None`), `codec = "postcard"`, or a path
/// to a type implementing `pgkv::Codec<Self>`.
fn check_codec(value: &Expr, errors: &mut Errors) -> Option<syn::Path> {
    match ungroup(value) {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(lit), ..
        }) => match lit.value().as_str() {
            "json" => None,
            "postcard" => Some(syn::parse_quote_spanned!(lit.span()=> ::pgkv::Postcard)),
            other => {
                let hint = match crate::attr::closest(other, CODECS) {
                    Some(near) => format!("; did you mean \"{near}\"?"),
                    None => String::new(),
                };
                errors.push(syn::Error::new_spanned(
                    lit,
                    format!(
                        "unknown codec {other:?}: write \"json\" (the default) or \"postcard\", \
                         or the path of a type implementing `pgkv::Codec`{hint}"
                    ),
                ));
                None
            }
        },
        Expr::Path(path) if path.qself.is_none() && path.attrs.is_empty() => Some(path.path.clone()),
        _ => {
            errors.push(syn::Error::new_spanned(
                value,
                "codec must be \"json\", \"postcard\" or the path of a type implementing \
                 `pgkv::Codec`, as in `codec = \"postcard\"`",
            ));
            None
        }
    }
}

const MISSING_PREFIX: &str = "missing kv option `prefix`: a KvRecord needs a key prefix, as in \
                              `#[kv(prefix = \"game-\")]`";

fn check_data(input: &Input<'_>, errors: &mut Errors) {
    let message = |kind: &str| {
        format!(
            "#[derive(KvRecord)] supports structs only; for {kind}, implement \
             `pgkv::KvRecord` by hand (it needs only `PREFIX` and `TTL`)"
        )
    };
    match &input.derive.data {
        Data::Struct(_) => {}
        Data::Enum(data) => {
            errors.push(syn::Error::new_spanned(data.enum_token, message("an enum")));
        }
        Data::Union(data) => {
            errors.push(syn::Error::new_spanned(data.union_token, message("a union")));
        }
    }
}

/// The key field, if exactly one named field is marked.
fn check_keys<'a>(input: &Input<'a>, errors: &mut Errors) -> Option<(&'a Ident, &'a Type)> {
    let mut first: Option<(&'a Ident, &'a Type)> = None;
    for key in &input.keys {
        let Some(name) = &key.field.ident else {
            errors.push(syn::Error::new_spanned(&key.mark, KEY_IN_TUPLE_STRUCT));
            continue;
        };
        match first {
            Some((taken, _)) => errors.push(syn::Error::new_spanned(
                &key.mark,
                format!(
                    "a record has one key field, and `{taken}` is already marked \
                     `#[kv(key)]`; remove the mark from `{name}`"
                ),
            )),
            None => first = Some((name, &key.field.ty)),
        }
    }
    first
}

/// Strips the invisible group a `macro_rules!` fragment (`$p:literal`,
/// `$p:expr`) arrives in.
fn ungroup(mut expr: &Expr) -> &Expr {
    while let Expr::Group(group) = expr {
        expr = &group.expr;
    }
    expr
}

fn check_prefix(value: &Expr, errors: &mut Errors) -> Option<LitStr> {
    let Expr::Lit(syn::ExprLit {
        lit: Lit::Str(lit), ..
    }) = ungroup(value)
    else {
        errors.push(syn::Error::new_spanned(
            value,
            "prefix must be a string literal, as in `prefix = \"game-\"`; constants and \
             other expressions are not supported",
        ));
        return None;
    };
    let text = lit.value();
    if text.is_empty() {
        errors.push(syn::Error::new_spanned(
            lit,
            "prefix must not be empty: it keeps this type's keys apart from every other \
             key in the store, as in `prefix = \"game-\"`",
        ));
        return None;
    }
    if text.contains('\0') {
        errors.push(syn::Error::new_spanned(
            lit,
            "prefix must not contain a NUL byte: pgkv rejects keys that hold one",
        ));
        return None;
    }
    Some(LitStr::new(&text, lit.span()))
}

const NOT_POSITIVE: &str = "omit `ttl` for records that never expire";

fn check_ttl(value: &Expr, errors: &mut Errors) -> Option<(u64, Span)> {
    let expr = ungroup(value);
    let secs = match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(lit), ..
        }) => int_ttl(lit),
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(lit), ..
        }) => parse_duration(&lit.value()),
        Expr::Lit(syn::ExprLit {
            lit: Lit::Float(lit), ..
        }) => Err(format!(
            "ttl must be a whole number of seconds, found `{lit}`; for other units write a \
             duration string such as \"1h30m\"",
            lit = lit.token()
        )),
        Expr::Unary(unary)
            if matches!(unary.op, UnOp::Neg(_))
                && matches!(
                    ungroup(&unary.expr),
                    Expr::Lit(syn::ExprLit {
                        lit: Lit::Int(_) | Lit::Float(_),
                        ..
                    })
                ) =>
        {
            Err(format!("ttl must be positive; {NOT_POSITIVE}"))
        }
        _ => Err(
            "ttl must be an integer literal (seconds) or a duration string such as \
                  \"1h30m\"; constants and other expressions are not supported"
                .to_owned(),
        ),
    };
    match secs {
        Ok(secs) => Some((secs, expr.span())),
        Err(message) => {
            errors.push(syn::Error::new_spanned(value, message));
            None
        }
    }
}

fn int_ttl(lit: &syn::LitInt) -> Result<u64, String> {
    const INTEGER_SUFFIXES: &[&str] = &[
        "", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize",
    ];
    if !INTEGER_SUFFIXES.contains(&lit.suffix()) {
        return Err(format!(
            "ttl is a number of seconds, and `{suffix}` is not a unit: write `ttl = {digits}` \
             or a duration string such as \"1h30m\"",
            suffix = lit.suffix(),
            digits = lit.base10_digits(),
        ));
    }
    // u128 so that a huge literal is "too long", not "does not fit".
    match lit.base10_digits().parse::<u128>() {
        Ok(0) => Err(format!("ttl must be positive; {NOT_POSITIVE}")),
        Ok(secs) => u64::try_from(secs)
            .ok()
            .filter(|secs| *secs <= MAX_TTL_SECS)
            .ok_or_else(too_long),
        Err(_) => Err(too_long()),
    }
}

fn too_long() -> String {
    format!("ttl is longer than pgkv::MAX_TTL (1,000 years, {MAX_TTL_SECS} seconds)")
}

/// Seconds in `text`: whole numbers each followed by a unit, `d`, `h`, `m`
/// or `s`, from largest to smallest, each unit at most once (`"1h30m"`,
/// `"2d"`, `"90s"`). The total must be positive and at most `MAX_TTL`.
fn parse_duration(text: &str) -> Result<u64, String> {
    const UNITS: [(&str, u64); 4] = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)];
    let invalid = |why: String| format!("invalid ttl duration {text:?}: {why}");
    if text.is_empty() {
        return Err(invalid(
            "it is empty; write a duration such as \"30m\" or \"1h30m\", or a number of \
             seconds (`ttl = 1800`)"
                .to_owned(),
        ));
    }
    let mut total: u64 = 0;
    // Index into UNITS of the last unit seen, to enforce largest-to-smallest.
    let mut last_unit: Option<usize> = None;
    let mut rest = text;
    while let Some(first) = rest.chars().next() {
        let digits_len = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let (digits, after) = rest.split_at(digits_len);
        let unit_len = after
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        if digits.is_empty() && !unit.is_empty() {
            return Err(invalid(format!(
                "expected a number before `{unit}`, as in \"1{unit}\""
            )));
        }
        if unit.is_empty() {
            // Not a digit, not a letter: a space, a sign, a decimal point...
            let unexpected = if digits.is_empty() {
                Some(first)
            } else {
                after.chars().next()
            };
            return Err(invalid(match unexpected {
                Some(c) => format!(
                    "unexpected `{c}`; a duration is whole numbers with units d, h, m, s, \
                     written together, as in \"1h30m\""
                ),
                None => format!(
                    "`{digits}` has no unit; add one of d, h, m, s (\"{digits}s\"), or write \
                     `ttl = {digits}` for seconds"
                ),
            }));
        }
        let Some(index) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(invalid(format!(
                "unknown unit `{unit}`; use d, h, m or s, as in \"1h30m\""
            )));
        };
        if last_unit.is_some_and(|last| index <= last) {
            return Err(invalid(
                "units must go from largest to smallest (d, h, m, s), each at most once, \
                 as in \"1h30m\""
                    .to_owned(),
            ));
        }
        last_unit = Some(index);
        let amount: u64 = digits.parse().map_err(|_| too_long())?;
        total = amount
            .checked_mul(UNITS[index].1)
            .and_then(|secs| total.checked_add(secs))
            .ok_or_else(too_long)?;
        rest = after;
    }
    if total == 0 {
        return Err(format!(
            "ttl must be positive, and {text:?} is zero; {NOT_POSITIVE}"
        ));
    }
    if total > MAX_TTL_SECS {
        return Err(too_long());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::{MAX_TTL_SECS, parse_duration};

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h"), Ok(3600));
        assert_eq!(parse_duration("30m"), Ok(1800));
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("2d"), Ok(172_800));
        assert_eq!(parse_duration("1h30m"), Ok(5400));
        assert_eq!(parse_duration("1d2h3m4s"), Ok(93_784));
        assert_eq!(parse_duration("0h5m"), Ok(300));
        assert_eq!(parse_duration("366000d"), Ok(MAX_TTL_SECS));
    }

    #[test]
    fn bad_durations() {
        for bad in [
            "",
            "0s",
            "0h0m",
            "1x",
            "h",
            "90",
            "1ms",
            "1.5h",
            "1h 30m",
            "-5s",
            "30m1h",
            "1h1h",
            "s1",
            "366001d",
            "99999999999999999999s",
            "1H",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
        assert_eq!(
            parse_duration("1x").unwrap_err(),
            "invalid ttl duration \"1x\": unknown unit `x`; use d, h, m or s, as in \"1h30m\""
        );
        assert!(
            parse_duration("h")
                .unwrap_err()
                .contains("expected a number before `h`")
        );
        assert!(parse_duration("0s").unwrap_err().contains("is zero"));
    }
}
