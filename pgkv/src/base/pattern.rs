//! Redis glob patterns (`SCAN MATCH`, `KEYS`): parsed once per call into
//! the literal prefix the key range is built from and an anchored
//! PostgreSQL regular expression that filters the rest on the server.

use crate::base::input::check_no_nul;
use crate::error::{Error, Result};

/// One element of a parsed glob.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A character that must be there (`a`, or `\*` escaped).
    Literal(char),
    /// `?`: exactly one character.
    AnyOne,
    /// `*`: any run of characters, the empty one included.
    AnyRun,
    /// `[...]` or `[^...]`: one character in (or not in) the set.
    Class { negated: bool, members: Vec<Member> },
}

/// One member of a character class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Member {
    One(char),
    /// Both ends included, `low <= high` (`[z-a]` is read as `[a-z]`, as Redis does).
    Range(char, char),
}

/// A glob, checked and taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Glob {
    /// The characters every matching key starts with: the literal ones
    /// before the first wildcard or class.
    pub(crate) prefix: String,
    /// What the server must still check: an anchored regular expression for
    /// the whole key, `None` when the prefix alone decides (the rest of the
    /// pattern is only `*`).
    pub(crate) regex: Option<String>,
}

impl Glob {
    /// Parses `pattern` with Redis's rules: `None` when no key can match it
    /// (it holds `[]`, a class without members). An unterminated class or a
    /// trailing backslash is [`Error::InvalidPattern`].
    pub(crate) fn parse(pattern: &str) -> Result<Option<Glob>> {
        check_no_nul(pattern)?;
        let tokens = tokenize(pattern).map_err(|reason| Error::InvalidPattern {
            pattern: pattern.to_owned(),
            reason,
        })?;
        let Some(regex) = to_regex(&tokens) else {
            return Ok(None);
        };
        let literal = tokens
            .iter()
            .map_while(|t| match t {
                Token::Literal(c) => Some(*c),
                _ => None,
            })
            .collect::<String>();
        let rest = &tokens[literal.chars().count()..];
        let only_stars = !rest.is_empty() && rest.iter().all(|t| *t == Token::AnyRun);
        Ok(Some(Glob {
            prefix: literal,
            regex: (!only_stars).then_some(regex),
        }))
    }
}

/// Splits a glob into tokens, reading it as Redis's `stringmatchlen` does,
/// except that what Redis would silently read past the end (an unterminated
/// `[`, a trailing `\`) is refused, and `[!...]` negates as `[^...]` does.
fn tokenize(pattern: &str) -> std::result::Result<Vec<Token>, &'static str> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' => {
                if tokens.last() != Some(&Token::AnyRun) {
                    tokens.push(Token::AnyRun);
                }
            }
            '?' => tokens.push(Token::AnyOne),
            '\\' => {
                let Some(&escaped) = chars.get(i) else {
                    return Err("a trailing `\\` escapes nothing");
                };
                tokens.push(Token::Literal(escaped));
                i += 1;
            }
            '[' => {
                let negated = matches!(chars.get(i), Some('^' | '!'));
                if negated {
                    i += 1;
                }
                let mut members = Vec::new();
                loop {
                    match chars.get(i..).unwrap_or_default() {
                        [] => return Err("a `[` class is never closed by `]`"),
                        // A `]` right after `[` closes the class, as in Redis:
                        // a `]` member is written `\]`.
                        [']', ..] => {
                            i += 1;
                            break;
                        }
                        ['\\', escaped, ..] => {
                            members.push(Member::One(*escaped));
                            i += 2;
                        }
                        // Redis takes any character after `-` as the end,
                        // even `]`; the ends are taken in either order.
                        [low, '-', high, ..] => {
                            members.push(Member::Range(*low.min(high), *low.max(high)));
                            i += 3;
                        }
                        [one, ..] => {
                            members.push(Member::One(*one));
                            i += 1;
                        }
                    }
                }
                tokens.push(Token::Class { negated, members });
            }
            c => tokens.push(Token::Literal(c)),
        }
    }
    Ok(tokens)
}

/// The character as a regular-expression atom, outside or inside a bracket
/// expression. In PostgreSQL's advanced regular expressions a backslash
/// before any ASCII character that is not a letter or digit stands for that
/// character, also inside brackets (so `]`, `-`, `^` and `\` need no
/// placement rules); letters, digits and non-ASCII characters are never
/// special and go as they are (a backslash before a letter would be an
/// escape such as `\d`).
fn push_escaped(re: &mut String, c: char) {
    if c.is_ascii() && !c.is_ascii_alphanumeric() {
        re.push('\\');
    }
    re.push(c);
}

/// The anchored regular expression a key must match, whole; `None` when
/// the pattern holds `[]`, which no character matches. `.` matches any
/// character, newline included (the default, not newline-sensitive, mode
/// of `~`).
fn to_regex(tokens: &[Token]) -> Option<String> {
    let mut re = String::from("^");
    for token in tokens {
        match token {
            Token::Literal(c) => push_escaped(&mut re, *c),
            Token::AnyOne => re.push('.'),
            Token::AnyRun => re.push_str(".*"),
            Token::Class { negated, members } if members.is_empty() => {
                if !negated {
                    return None;
                }
                // `[^]`: any one character.
                re.push('.');
            }
            Token::Class { negated, members } => {
                re.push('[');
                if *negated {
                    re.push('^');
                }
                for member in members {
                    match *member {
                        Member::One(c) => push_escaped(&mut re, c),
                        Member::Range(low, high) => {
                            push_escaped(&mut re, low);
                            re.push('-');
                            push_escaped(&mut re, high);
                        }
                    }
                }
                re.push(']');
            }
        }
    }
    re.push('$');
    Some(re)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(p: &str) -> Glob {
        Glob::parse(p).unwrap().expect("satisfiable")
    }

    #[test]
    fn literal_prefixes() {
        assert_eq!(glob("user:*").prefix, "user:");
        assert_eq!(glob("user:*").regex, None);
        assert_eq!(glob("user:**").regex, None);
        assert_eq!(glob("*").prefix, "");
        assert_eq!(glob("*").regex, None);
        assert_eq!(glob("a\\*b*").prefix, "a*b");
        assert_eq!(glob("a?c").prefix, "a");
        assert_eq!(glob("[a]bc").prefix, "");
        // A pattern without wildcards still needs the regex: the key must end there.
        assert_eq!(glob("abc").prefix, "abc");
        assert_eq!(glob("abc").regex.as_deref(), Some("^abc$"));
        assert_eq!(glob("").regex.as_deref(), Some("^$"));
    }

    #[test]
    fn regexes() {
        let re = |p: &str| glob(p).regex.unwrap();
        assert_eq!(re("a*b?c"), "^a.*b.c$");
        assert_eq!(re("a**b"), "^a.*b$");
        assert_eq!(re("x.+(|)$^{}%_"), "^x\\.\\+\\(\\|\\)\\$\\^\\{\\}\\%\\_$");
        assert_eq!(re("[abc]"), "^[abc]$");
        assert_eq!(re("[^a]?"), "^[^a].$");
        assert_eq!(re("[!a]"), "^[^a]$");
        assert_eq!(re("[z-a]"), "^[a-z]$");
        assert_eq!(re("[\\]x\\-]"), "^[\\]x\\-]$");
        // As in Redis, `-` before the closing `]` makes a range ending in `]`.
        assert_eq!(re("[\\]x-]]"), "^[\\]\\]-x]$");
        assert_eq!(re("[a-]]"), "^[\\]-a]$");
        assert_eq!(re("[-a]"), "^[\\-a]$");
        assert_eq!(re("[a\\-z]"), "^[a\\-z]$");
        assert_eq!(re("[é-日]*"), "^[é-日].*$");
        assert_eq!(re("[^]"), "^.$");
        assert_eq!(re("\\\\"), "^\\\\$");
    }

    #[test]
    fn empty_class_matches_nothing() {
        assert_eq!(Glob::parse("a[]b").unwrap(), None);
        // `[]]`: the empty class, then a literal `]`.
        assert_eq!(Glob::parse("[]]").unwrap(), None);
        assert_eq!(glob("a[^]b").regex.as_deref(), Some("^a.b$"));
    }

    #[test]
    fn invalid_patterns() {
        for p in ["[", "a[bc", "[^", "[\\]", "[a-]", "abc\\", "[]a[", "\\"] {
            match Glob::parse(p) {
                Err(Error::InvalidPattern { pattern, reason }) => {
                    assert_eq!(pattern, p);
                    assert!(!reason.is_empty());
                }
                other => panic!("{p:?}: {other:?}"),
            }
        }
        assert!(matches!(Glob::parse("a\0*"), Err(Error::KeyContainsNul { .. })));
    }
}
