//! Reading the marker's report (the real root's init, `sesame-marker`) from a console log.

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::console::clean_console;

const LINE_PREFIX: &str = "SESAME-MARKER {";

/// The marker's JSON report, the first one in `console_log` (raw or cleaned).
pub fn parse_marker(console_log: &str) -> Result<Value> {
    match parse_markers(console_log)?.into_iter().next() {
        Some(v) => Ok(v),
        None => {
            bail!("the console shows no `SESAME-MARKER {{…}}` line: the real root's init never ran")
        }
    }
}

/// Every marker report in `console_log`, in order (one per boot that reached it).
pub fn parse_markers(console_log: &str) -> Result<Vec<Value>> {
    let text = clean_console(console_log.as_bytes());
    text.lines()
        .filter_map(|l| {
            l.find(LINE_PREFIX)
                .map(|at| &l[at + LINE_PREFIX.len() - 1..])
        })
        .map(|json| {
            serde_json::from_str(json.trim_end())
                .with_context(|| format!("the marker's report is not valid JSON: {json}"))
        })
        .collect()
}

/// The kernel log the marker printed with `sesame.marker.kmsg=1` (first boot), if any.
pub fn parse_marker_kmsg(console_log: &str) -> Option<String> {
    let text = clean_console(console_log.as_bytes());
    let start = text.find("SESAME-MARKER-KMSG-BEGIN\n")? + "SESAME-MARKER-KMSG-BEGIN\n".len();
    let len = text[start..].find("SESAME-MARKER-KMSG-END")?;
    Some(text[start..start + len].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_reports() {
        let log = "\x1b[0mboot\r\nSESAME-MARKER-BEGIN\r\nSESAME-MARKER {\"pid\":1}\r\n\
                   SESAME-MARKER-END\r\nSESAME-MARKER-KMSG-BEGIN\r\n[1] a\r\n[2] b\r\n\
                   SESAME-MARKER-KMSG-END\r\nSESAME-MARKER {\"pid\":1,\"n\":2}\r\n";
        assert_eq!(parse_marker(log).unwrap()["pid"], 1);
        assert_eq!(parse_markers(log).unwrap().len(), 2);
        assert_eq!(parse_marker_kmsg(log).unwrap(), "[1] a\n[2] b\n");
        assert!(parse_marker("nothing").is_err());
        assert!(parse_marker("SESAME-MARKER {broken").is_err());
    }
}
