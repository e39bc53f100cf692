//! The options field of an authorized_keys line (`command="unlock",from="10.0.0.0/8",no-pty`),
//! parsed the way OpenSSH's sshd does: names are case-insensitive, values are in double
//! quotes with `\"` for a quote, later flags override earlier ones (`restrict,pty`). Anything
//! unknown or malformed is an error and the key is refused, as OpenSSH refuses it.

use crate::from_patterns::{self, FromError, FromList};

/// What the options of one key allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyOptions {
    /// `command="…"`: the only command the key may run.
    pub command: Option<String>,
    /// `from="…"`: the addresses the key may log in from.
    pub from: Option<FromList>,
    /// Whether a pty may be allocated (`no-pty` and `restrict` clear it, `pty` sets it).
    pub permit_pty: bool,
    /// `restrict` was given.
    pub restrict: bool,
    /// `cert-authority`: the key signs user certificates rather than logging in itself.
    pub cert_authority: bool,
    /// `principals="a,b"` (with `cert-authority`): the certificate names one of these.
    pub principals: Option<Vec<String>>,
    /// `expiry-time="…"` as seconds since the epoch: the key is refused from then on.
    pub expiry_time: Option<u64>,
    /// `no-touch-required` (FIDO keys).
    pub no_touch_required: bool,
    /// `verify-required` (FIDO keys).
    pub verify_required: bool,
    /// Options accepted but without effect here (sesame never forwards, has no
    /// environment nor rc files), for a note in the log.
    pub no_effect: Vec<String>,
}

impl Default for KeyOptions {
    fn default() -> Self {
        KeyOptions {
            command: None,
            from: None,
            permit_pty: true,
            restrict: false,
            cert_authority: false,
            principals: None,
            expiry_time: None,
            no_touch_required: false,
            verify_required: false,
            no_effect: Vec::new(),
        }
    }
}

/// Why an options field was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionsError {
    #[error("unknown option `{0}`")]
    Unknown(String),
    #[error("an option is empty (two commas in a row)")]
    Empty,
    #[error("`{0}` needs a value in double quotes: {0}=\"…\"")]
    MissingValue(String),
    #[error("`{0}` takes no value")]
    UnexpectedValue(String),
    #[error("the value of `{0}` must be in double quotes: {0}=\"…\"")]
    Unquoted(String),
    #[error("the value of `{0}` has no closing double quote")]
    Unterminated(String),
    #[error("after `{0}`: expected `,` or the end of the options")]
    Garbage(String),
    #[error("`{0}` is given twice")]
    Duplicate(&'static str),
    #[error("from=\"{value}\": {source}")]
    From { value: String, source: FromError },
    #[error("expiry-time=\"{0}\": expected YYYYMMDD[HHMM[SS]][Z]")]
    Expiry(String),
    #[error("principals=\"{0}\": expected a comma-separated list of names")]
    Principals(String),
    #[error("`command` is empty")]
    EmptyCommand,
}

/// Longest options field accepted.
const MAX_LEN: usize = 8192;

/// Parses an options field (possibly empty).
pub fn parse(text: &str) -> Result<KeyOptions, OptionsError> {
    let mut opts = KeyOptions::default();
    if text.is_empty() {
        return Ok(opts);
    }
    if text.len() > MAX_LEN {
        return Err(OptionsError::Garbage(format!("{MAX_LEN} characters")));
    }
    let mut rest = text;
    loop {
        let end = rest.find(['=', ',']).unwrap_or(rest.len());
        let (name, after) = rest.split_at(end);
        if name.is_empty() {
            return Err(OptionsError::Empty);
        }
        let shown = printable(name);
        let (value, after) = match after.strip_prefix('=') {
            Some(v) => {
                let (value, after) = dequote(v, &shown)?;
                (Some(value), after)
            }
            None => (None, after),
        };
        apply(&mut opts, &name.to_ascii_lowercase(), &shown, value)?;
        match after.strip_prefix(',') {
            // A trailing comma is accepted, as OpenSSH does.
            Some("") => break,
            Some(more) => rest = more,
            None if after.is_empty() => break,
            None => return Err(OptionsError::Garbage(shown)),
        }
    }
    Ok(opts)
}

/// Reads `"…"` from the start of `s`: `\"` is a quote, any other backslash is kept.
/// Returns the value and what follows the closing quote.
fn dequote<'a>(s: &'a str, name: &str) -> Result<(String, &'a str), OptionsError> {
    let Some(body) = s.strip_prefix('"') else {
        return Err(OptionsError::Unquoted(name.to_string()));
    };
    let mut value = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &body[i + 1..])),
            '\\' if body[i + 1..].starts_with('"') => {
                value.push('"');
                chars.next();
            }
            c => value.push(c),
        }
    }
    Err(OptionsError::Unterminated(name.to_string()))
}

fn apply(
    opts: &mut KeyOptions,
    name: &str,
    shown: &str,
    value: Option<String>,
) -> Result<(), OptionsError> {
    let flag = |value: &Option<String>| match value {
        Some(_) => Err(OptionsError::UnexpectedValue(shown.to_string())),
        None => Ok(()),
    };
    let valued = |value: Option<String>| value.ok_or(OptionsError::MissingValue(shown.to_string()));
    match name {
        "restrict" => {
            flag(&value)?;
            opts.restrict = true;
            opts.permit_pty = false;
        }
        "no-pty" => {
            flag(&value)?;
            opts.permit_pty = false;
        }
        "pty" => {
            flag(&value)?;
            opts.permit_pty = true;
        }
        "cert-authority" => {
            flag(&value)?;
            opts.cert_authority = true;
        }
        "no-touch-required" => {
            flag(&value)?;
            opts.no_touch_required = true;
        }
        "verify-required" => {
            flag(&value)?;
            opts.verify_required = true;
        }
        // Forbidding what sesame never allows anyway.
        "no-agent-forwarding" | "no-port-forwarding" | "no-x11-forwarding" | "no-user-rc" => {
            flag(&value)?;
        }
        "agent-forwarding" | "port-forwarding" | "x11-forwarding" | "user-rc" => {
            flag(&value)?;
            opts.no_effect.push(name.to_string());
        }
        "environment" | "permitopen" | "permitlisten" | "tunnel" => {
            valued(value)?;
            opts.no_effect.push(name.to_string());
        }
        "command" => {
            let v = valued(value)?;
            if opts.command.is_some() {
                return Err(OptionsError::Duplicate("command"));
            }
            if v.trim().is_empty() {
                return Err(OptionsError::EmptyCommand);
            }
            opts.command = Some(v);
        }
        "from" => {
            let v = valued(value)?;
            if opts.from.is_some() {
                return Err(OptionsError::Duplicate("from"));
            }
            let list = from_patterns::parse(&v).map_err(|source| OptionsError::From {
                value: printable(&v),
                source,
            })?;
            opts.from = Some(list);
        }
        "principals" => {
            let v = valued(value)?;
            if opts.principals.is_some() {
                return Err(OptionsError::Duplicate("principals"));
            }
            let names: Vec<String> = v.split(',').map(str::to_string).collect();
            if names
                .iter()
                .any(|n| n.is_empty() || n.chars().any(char::is_whitespace))
            {
                return Err(OptionsError::Principals(printable(&v)));
            }
            opts.principals = Some(names);
        }
        "expiry-time" => {
            let v = valued(value)?;
            let t = parse_expiry(&v).ok_or_else(|| OptionsError::Expiry(printable(&v)))?;
            // As OpenSSH: the earliest of several wins.
            opts.expiry_time = Some(opts.expiry_time.map_or(t, |old| old.min(t)));
        }
        _ => return Err(OptionsError::Unknown(shown.to_string())),
    }
    Ok(())
}

/// `YYYYMMDD[HHMM[SS]][Z]` to seconds since the epoch. Without `Z` OpenSSH uses local
/// time; the initramfs has no time zone, so both are read as UTC.
pub fn parse_expiry(s: &str) -> Option<u64> {
    let digits = s.strip_suffix(['Z', 'z']).unwrap_or(s);
    if !matches!(digits.len(), 8 | 12 | 14) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> { digits.get(r)?.parse().ok() };
    let (year, month, day) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let hour = if digits.len() >= 12 { num(8..10)? } else { 0 };
    let minute = if digits.len() >= 12 { num(10..12)? } else { 0 };
    let second = if digits.len() == 14 { num(12..14)? } else { 0 };
    if year < 1970 || !(1..=12).contains(&month) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    if day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm), for
/// years from 1970 on.
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A name or value as shown in an error: control characters escaped, at most 64 characters.
fn printable(s: &str) -> String {
    s.chars().take(64).flat_map(char::escape_debug).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    #[test]
    fn empty_means_everything_default() {
        let o = parse("").unwrap();
        assert_eq!(o, KeyOptions::default());
        assert!(o.permit_pty);
    }

    #[test]
    fn command_from_and_flags() {
        let o = parse(r#"command="unlock root",from="10.0.0.0/8,!10.0.0.5",no-pty"#).unwrap();
        assert_eq!(o.command.as_deref(), Some("unlock root"));
        assert!(!o.permit_pty);
        let from = o.from.unwrap();
        assert!(from.matches("10.1.2.3".parse::<IpAddr>().unwrap()));
        assert!(!from.matches("10.0.0.5".parse::<IpAddr>().unwrap()));
    }

    #[test]
    fn later_flags_override_earlier_ones() {
        let o = parse("restrict,pty").unwrap();
        assert!(o.restrict && o.permit_pty);
        let o = parse("pty,restrict").unwrap();
        assert!(!o.permit_pty);
        let o = parse("restrict").unwrap();
        assert!(!o.permit_pty);
        let o = parse("no-pty,pty").unwrap();
        assert!(o.permit_pty);
    }

    #[test]
    fn names_are_case_insensitive_and_a_trailing_comma_is_fine() {
        let o = parse(r#"No-PTY,Command="status","#).unwrap();
        assert!(!o.permit_pty);
        assert_eq!(o.command.as_deref(), Some("status"));
    }

    #[test]
    fn escaped_quotes_and_literal_backslashes() {
        let o = parse(r#"command="say \"hi\" \n""#).unwrap();
        assert_eq!(o.command.as_deref(), Some(r#"say "hi" \n"#));
        let o = parse(r#"command="a,b=c""#).unwrap();
        assert_eq!(o.command.as_deref(), Some("a,b=c"));
    }

    #[test]
    fn options_without_effect_are_noted() {
        let o = parse(r#"port-forwarding,environment="A=B",no-agent-forwarding,permitopen="h:1""#)
            .unwrap();
        assert_eq!(
            o.no_effect,
            vec!["port-forwarding", "environment", "permitopen"]
        );
    }

    #[test]
    fn cert_authority_principals_expiry() {
        let o = parse(r#"cert-authority,principals="root,ops",expiry-time="20300101""#).unwrap();
        assert!(o.cert_authority);
        assert_eq!(o.principals.unwrap(), vec!["root", "ops"]);
        assert_eq!(o.expiry_time, Some(1_893_456_000));
        let o = parse(r#"expiry-time="20300101",expiry-time="20250101""#).unwrap();
        assert_eq!(o.expiry_time, Some(1_735_689_600));
    }

    #[test]
    fn expiry_formats() {
        assert_eq!(parse_expiry("19700101"), Some(0));
        assert_eq!(parse_expiry("19700101Z"), Some(0));
        assert_eq!(parse_expiry("197001010001"), Some(60));
        assert_eq!(parse_expiry("20000229235959"), Some(951_868_799));
        assert_eq!(parse_expiry("20240229"), Some(1_709_164_800));
        assert_eq!(parse_expiry("20230229"), None);
        assert_eq!(parse_expiry("20231301"), None);
        assert_eq!(parse_expiry("2023010"), None);
        assert_eq!(parse_expiry("2023-01-01"), None);
        assert_eq!(parse_expiry("202301012460"), None);
        assert_eq!(parse_expiry("19691231"), None);
        assert_eq!(parse_expiry("+2023010"), None);
    }

    #[test]
    fn malformed() {
        use OptionsError::*;
        assert_eq!(
            parse(r#"command="unlock"#),
            Err(Unterminated("command".into()))
        );
        assert_eq!(parse(r#"command=unlock"#), Err(Unquoted("command".into())));
        assert_eq!(parse("command"), Err(MissingValue("command".into())));
        assert_eq!(
            parse(r#"no-pty="yes""#),
            Err(UnexpectedValue("no-pty".into()))
        );
        assert_eq!(parse("no-pty,,pty"), Err(Empty));
        assert_eq!(parse(",no-pty"), Err(Empty));
        assert_eq!(parse("frobnicate"), Err(Unknown("frobnicate".into())));
        assert_eq!(parse(r#"command="a"x"#), Err(Garbage("command".into())));
        assert_eq!(
            parse(r#"command="a",command="b""#),
            Err(Duplicate("command"))
        );
        assert_eq!(parse(r#"command="  ""#), Err(EmptyCommand));
        assert!(matches!(parse(r#"from="10.0.0.0/33""#), Err(From { .. })));
        assert!(matches!(parse(r#"from="""#), Err(From { .. })));
        assert!(matches!(parse(r#"expiry-time="soon""#), Err(Expiry(_))));
        assert!(matches!(parse(r#"principals="a,,b""#), Err(Principals(_))));
        assert!(matches!(parse("no-pty pty"), Err(Unknown(_))));
        let e = parse("\u{1b}]0;owned\u{7}").unwrap_err().to_string();
        assert!(!e.contains('\u{1b}'), "{e}");
    }
}
