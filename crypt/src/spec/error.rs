//! `SpecError`, the diagnostic of the volume-spec parsers (`rd.luks.*`, crypttab,
//! volume options), and `show()`, which quotes user text safely inside a message.

use std::fmt;

use serde::Serialize;

use crate::device::DeviceSpecError;

/// Why a word, an option or a crypttab line (or a part of one) was not used.
/// `Display` gives "line N: `part`: reason; fix", each prefix only when known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpecError {
    /// The crypttab line (1-based), for crypttab diagnostics.
    pub line: Option<usize>,
    /// The ignored part: an option, a field. `None` when the reason names it.
    pub part: Option<String>,
    pub reason: String,
    /// What to write instead.
    pub fix: String,
}

impl SpecError {
    pub(crate) fn new(reason: impl Into<String>, fix: impl Into<String>) -> Self {
        SpecError {
            line: None,
            part: None,
            reason: reason.into(),
            fix: fix.into(),
        }
    }

    pub(crate) fn part(part: &str, reason: impl Into<String>, fix: impl Into<String>) -> Self {
        SpecError {
            part: Some(part.to_string()),
            ..SpecError::new(reason, fix)
        }
    }

    pub(crate) fn at_line(mut self, line: usize) -> Self {
        self.line = Some(line);
        self
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if let Some(part) = &self.part {
            write!(f, "{}: ", show(part))?;
        }
        write!(f, "{}; {}", self.reason, self.fix)
    }
}

impl std::error::Error for SpecError {}

/// Quotes user text for a message: in backticks, control characters escaped, cut to a
/// bounded length on a character boundary.
pub(crate) fn show(s: &str) -> String {
    const MAX: usize = 64;
    let mut out = String::from("`");
    for (n, c) in s.chars().enumerate() {
        if n == MAX {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.push('`');
    out
}

/// A device-specification error with the user's text quoted by `show()` (the error's
/// own `Display` repeats the text in full, however long).
pub fn describe_device_error(e: &DeviceSpecError) -> String {
    match e {
        DeviceSpecError::NotADevice(s) => format!(
            "{} is not a device: use an absolute path (/dev/…) or UUID=, LABEL=, PARTUUID=, PARTLABEL=",
            show(s)
        ),
        DeviceSpecError::BadUuid(s) => format!(
            "{} is not a valid UUID (expected hex digits and dashes, e.g. 0b3c…-…)",
            show(s)
        ),
        other => other.to_string(),
    }
}
