//! `dmesg`: the kernel's ring buffer read from `/dev/kmsg` without blocking (each read
//! returns one record; EAGAIN means the end), formatted as `dmesg` does. `/dev/kmsg` is not
//! destructive, unlike `/proc/kmsg`, so the real system's journal still gets every line.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::render::clean;

/// At most this many records are returned (the newest ones).
const MAX_RECORDS: usize = 20_000;

/// Formats one record (`6,339,5140900,-;NET: Registered PF_INET6\n SUBSYSTEM=…`) as
/// `[    5.140900] NET: Registered PF_INET6`. None for what is not a record.
pub fn format_record(record: &str) -> Option<String> {
    let first = record.lines().next()?;
    let (header, message) = first.split_once(';')?;
    let mut fields = header.split(',');
    let _prio: u32 = fields.next()?.trim().parse().ok()?;
    let _seq: u64 = fields.next()?.parse().ok()?;
    let usec: u64 = fields.next()?.parse().ok()?;
    Some(format!(
        "[{:>5}.{:06}] {}",
        usec / 1_000_000,
        usec % 1_000_000,
        clean(message)
    ))
}

/// Reads every record now in `path` (normally `/dev/kmsg`).
pub fn read_all(path: &Path) -> std::io::Result<Vec<String>> {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let mut out = std::collections::VecDeque::new();
    // A record is at most about 8 KiB (the kernel's limit is 1 KiB of text plus
    // dictionary); a short buffer makes the read fail with EINVAL.
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let text = String::from_utf8_lossy(buf.get(..n).unwrap_or_default());
                if let Some(line) = format_record(&text) {
                    if out.len() == MAX_RECORDS {
                        out.pop_front();
                    }
                    out.push_back(line);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            // The record was overwritten while we read: go on with the next one.
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                if out.is_empty() {
                    return Err(e);
                }
                break;
            }
        }
    }
    Ok(out.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records() {
        assert_eq!(
            format_record("6,339,5140900,-;NET: Registered PF_INET6\n SUBSYSTEM=net\n").as_deref(),
            Some("[    5.140900] NET: Registered PF_INET6")
        );
        assert_eq!(
            format_record("4,1,0,-,caller=T1;Linux version 6.1").as_deref(),
            Some("[    0.000000] Linux version 6.1")
        );
        assert_eq!(
            format_record("3,2,123456789012,c;x\u{1b}[2J").as_deref(),
            Some("[123456.789012] x\\u{1b}[2J")
        );
        assert_eq!(format_record("garbage"), None);
        assert_eq!(format_record("a,b,c;x"), None);
        assert_eq!(format_record(""), None);
    }

    #[test]
    fn a_missing_file_is_an_error() {
        assert!(read_all(Path::new("/nonexistent/kmsg")).is_err());
    }

    #[test]
    fn reads_records_from_a_file_until_the_end() {
        // A regular file returns everything in one read; only the first record of each
        // read is kept, as /dev/kmsg returns one record per read.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("kmsg");
        std::fs::write(&p, "6,1,1000000,-;hello\n").unwrap();
        assert_eq!(
            read_all(&p).unwrap(),
            vec!["[    1.000000] hello".to_string()]
        );
    }
}
