//! Capturing a QEMU output stream (the serial console, QEMU's own stderr): a reader thread
//! appends every byte to an in-memory buffer and to a log file; waiters search a cleaned
//! copy (no escape sequences, no `\r`) so SeaBIOS's terminal codes do not break matching.

use std::fs::File;
use std::io::{Read, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the output must rest before a match on an unterminated line is returned as
/// it is (a prompt waits for input; a log line arriving in pieces goes on within ms).
const LINE_REST: Duration = Duration::from_millis(400);

#[derive(Default)]
struct State {
    raw: Vec<u8>,
    closed: bool,
}

/// One captured stream; cheap to clone (all clones share the buffer).
#[derive(Clone, Default)]
pub(crate) struct Capture {
    shared: Arc<(Mutex<State>, Condvar)>,
}

/// Where a wait stopped.
pub(crate) enum Waited {
    /// The cleaned line holding the match, and the raw offset just past the match.
    Found {
        line: String,
        end: usize,
    },
    TimedOut,
    /// The stream ended (QEMU exited) without the pattern.
    Closed,
}

impl Capture {
    /// Starts the reader thread: `from` → buffer and `log`.
    pub(crate) fn spawn(
        &self,
        name: &str,
        mut from: impl Read + Send + 'static,
        mut log: File,
    ) -> std::io::Result<JoinHandle<()>> {
        let me = self.clone();
        std::thread::Builder::new()
            .name(format!("capture-{name}"))
            .spawn(move || {
                let mut buf = [0u8; 8192];
                loop {
                    match from.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            let _ = log.write_all(&buf[..n]);
                            me.lock().raw.extend_from_slice(&buf[..n]);
                            me.shared.1.notify_all();
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
                let _ = log.flush();
                me.lock().closed = true;
                me.shared.1.notify_all();
            })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Raw bytes captured so far (the offset a later wait can start from).
    pub(crate) fn len(&self) -> usize {
        self.lock().raw.len()
    }

    /// Everything so far, cleaned.
    pub(crate) fn text(&self) -> String {
        clean_console(&self.lock().raw)
    }

    /// Waits until `pattern` appears in the cleaned output after raw offset `from`. A
    /// match on the last, unterminated line is held back until that line ends or the
    /// output rests for [`LINE_REST`] (a prompt): serial output arrives in pieces, and a
    /// caller checking the returned line must not see half of it.
    pub(crate) fn wait_for(&self, from: usize, pattern: &str, timeout: Duration) -> Waited {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        let mut resting: Option<(usize, Instant)> = None;
        loop {
            let start = from.min(state.raw.len());
            let now = Instant::now();
            if let Some(found) = find(&state.raw[start..], pattern.as_bytes()) {
                let len = state.raw.len();
                let rested = match resting {
                    Some((l, since)) if l == len => now.duration_since(since) >= LINE_REST,
                    _ => {
                        resting = Some((len, now));
                        false
                    }
                };
                if found.terminated || rested || state.closed || now >= deadline {
                    return Waited::Found {
                        line: found.line,
                        end: start + found.end,
                    };
                }
            }
            if state.closed {
                return Waited::Closed;
            }
            if now >= deadline {
                return Waited::TimedOut;
            }
            let wait = match resting {
                Some(_) => LINE_REST.min(deadline - now),
                None => deadline - now,
            };
            state = self
                .shared
                .1
                .wait_timeout(state, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Waits until the stream ends (the process closed it), up to `timeout`.
    pub(crate) fn wait_closed(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        while !state.closed {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = self
                .shared
                .1
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// The last `n` lines of the cleaned output.
    pub(crate) fn tail(&self, n: usize) -> String {
        let text = self.text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// The first match of `pattern` in cleaned `raw`: (its whole cleaned line, raw offset just
/// past the match). The line may be the unfinished last one (a prompt without newline).
/// A match of a pattern in the console: the whole (cleaned) line holding it, the raw
/// offset just past the pattern, and whether the line has ended yet.
struct Found {
    line: String,
    end: usize,
    terminated: bool,
}

fn find(raw: &[u8], pattern: &[u8]) -> Option<Found> {
    let (clean, map) = clean_with_map(raw);
    let at = if pattern.is_empty() {
        0
    } else {
        clean.windows(pattern.len()).position(|w| w == pattern)?
    };
    let end_clean = at + pattern.len();
    let end_raw = if end_clean == 0 {
        0
    } else {
        map[end_clean - 1] + 1
    };
    let line_start = clean[..at]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |p| p + 1);
    let newline = clean[at..].iter().position(|b| *b == b'\n');
    let line_end = newline.map_or(clean.len(), |p| at + p);
    let line = String::from_utf8_lossy(&clean[line_start..line_end]).into_owned();
    Some(Found {
        line,
        end: end_raw,
        terminated: newline.is_some(),
    })
}

/// `raw` console output as text: terminal escape sequences, `\r` and other control
/// characters (but `\n` and `\t`) removed, invalid UTF-8 replaced.
pub fn clean_console(raw: &[u8]) -> String {
    String::from_utf8_lossy(&clean_with_map(raw).0).into_owned()
}

/// The cleaned bytes and, for each, its offset in `raw`.
fn clean_with_map(raw: &[u8]) -> (Vec<u8>, Vec<usize>) {
    let mut out = Vec::with_capacity(raw.len());
    let mut map = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b == 0x1b {
            i = skip_escape(raw, i);
            continue;
        }
        if b == b'\n' || b == b'\t' || b >= 0x20 {
            out.push(b);
            map.push(i);
        }
        i += 1;
    }
    (out, map)
}

/// The index just past the escape sequence starting at `raw[i] == ESC`.
fn skip_escape(raw: &[u8], i: usize) -> usize {
    let Some(&kind) = raw.get(i + 1) else {
        return raw.len();
    };
    match kind {
        // CSI: parameters and intermediates, then one final byte in 0x40..=0x7e.
        b'[' => {
            let mut j = i + 2;
            while j < raw.len() && (0x20..=0x3f).contains(&raw[j]) {
                j += 1;
            }
            (j + 1).min(raw.len())
        }
        // OSC: up to BEL or ESC \.
        b']' => {
            let mut j = i + 2;
            while j < raw.len() {
                if raw[j] == 0x07 {
                    return j + 1;
                }
                if raw[j] == 0x1b && raw.get(j + 1) == Some(&b'\\') {
                    return j + 2;
                }
                j += 1;
            }
            raw.len()
        }
        // Character set designation: ESC ( B and friends.
        b'(' | b')' | b'*' | b'+' => (i + 3).min(raw.len()),
        _ => i + 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_seabios_noise() {
        let raw = b"\x1bc\x1b[?7l\x1b[2J\x1b[0mSeaBIOS (version 1.16)\r\nBooting\r\n\x1b(Bok\x1b]0;t\x07!";
        assert_eq!(clean_console(raw), "SeaBIOS (version 1.16)\nBooting\nok!");
    }

    #[test]
    fn finds_lines_and_offsets() {
        let raw = b"one\r\n\x1b[0mtwo MARK x\r\nthree MARK\r\nPassword: ";
        let f = find(raw, b"MARK").unwrap();
        assert_eq!((f.line.as_str(), f.terminated), ("two MARK x", true));
        let end = f.end;
        assert_eq!(&raw[end - 4..end], b"MARK");
        let f = find(&raw[end..], b"MARK").unwrap();
        assert_eq!(f.line, "three MARK");
        assert_eq!(&raw[end + f.end - 4..end + f.end], b"MARK");
        let f = find(raw, b"Password:").unwrap();
        assert_eq!((f.line.as_str(), f.terminated), ("Password: ", false));
        assert!(find(raw, b"absent").is_none());
    }

    #[test]
    fn waits_across_threads() {
        let c = Capture::default();
        let (mut w, r) = std::os::unix::net::UnixStream::pair().unwrap();
        let log = tempfile::tempfile().unwrap();
        let t = c.spawn("test", r, log).unwrap();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            w.write_all(b"hello\r\nworld\r\n").unwrap();
        });
        match c.wait_for(0, "world", Duration::from_secs(10)) {
            Waited::Found { line, .. } => assert_eq!(line, "world"),
            _ => panic!("not found"),
        }
        assert!(c.wait_closed(Duration::from_secs(10)));
        t.join().unwrap();
        assert!(matches!(
            c.wait_for(0, "nope", Duration::from_secs(10)),
            Waited::Closed
        ));
        assert_eq!(c.tail(1), "world");
    }

    #[test]
    fn a_line_in_pieces_is_returned_whole_and_a_prompt_after_a_rest() {
        let c = Capture::default();
        let (mut w, r) = std::os::unix::net::UnixStream::pair().unwrap();
        let log = tempfile::tempfile().unwrap();
        let t = c.spawn("test", r, log).unwrap();
        let writer = std::thread::spawn(move || {
            w.write_all(b"the boot stopped: did not app").unwrap();
            std::thread::sleep(Duration::from_millis(100));
            w.write_all(b"ear within 3 s; seen: vda ext4\r\nPassphrase: ")
                .unwrap();
            std::thread::sleep(Duration::from_secs(2));
        });
        match c.wait_for(0, "did not app", Duration::from_secs(10)) {
            Waited::Found { line, .. } => assert!(line.ends_with("vda ext4"), "{line}"),
            _ => panic!("not found"),
        }
        match c.wait_for(0, "Passphrase:", Duration::from_secs(10)) {
            Waited::Found { line, .. } => assert_eq!(line, "Passphrase: "),
            _ => panic!("the prompt was not returned"),
        }
        writer.join().unwrap();
        assert!(c.wait_closed(Duration::from_secs(10)));
        t.join().unwrap();
    }
}
