//! Console input: one thread reads lines from the console (fd 0) for the whole boot and
//! hands them, zeroized when dropped (a line may be a passphrase), to whoever is waiting
//! for input. Lines typed while nobody waits are discarded when a wait begins, so a stray
//! `reboot` typed early is never acted on later.

use std::io::Read;

use tokio::sync::mpsc;
use zeroize::Zeroizing;

/// A line typed on the console, without its line ending.
pub type Line = Zeroizing<String>;

/// Starts the reader thread. Returns None when there is no console to read.
pub fn start() -> Option<mpsc::UnboundedReceiver<Line>> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::Builder::new()
        .name("console".into())
        .spawn(move || read_lines(std::io::stdin().lock(), tx))
        .ok()?;
    Some(rx)
}

/// Splits the byte stream into lines (LF or CR), never holding more than 4 KiB.
fn read_lines(mut input: impl Read, tx: mpsc::UnboundedSender<Line>) {
    let mut current = Zeroizing::new(Vec::<u8>::with_capacity(256));
    let mut buf = Zeroizing::new([0u8; 256]);
    loop {
        let n = match input.read(&mut buf[..]) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        for &b in &buf[..n] {
            if b == b'\n' || b == b'\r' {
                let text = Zeroizing::new(String::from_utf8_lossy(&current).into_owned());
                current.clear();
                if tx.send(text).is_err() {
                    return;
                }
            } else if current.len() < 4096 {
                current.push(b);
            }
        }
    }
}

/// Drops lines that were typed while nobody was waiting.
pub fn discard_pending(rx: &mut mpsc::UnboundedReceiver<Line>) {
    while rx.try_recv().is_ok() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_on_cr_and_lf_and_are_bounded() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut input = b"retry\r\nreboot\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 10_000));
        input.push(b'\n');
        read_lines(&input[..], tx);
        assert_eq!(rx.try_recv().unwrap().as_str(), "retry");
        assert_eq!(rx.try_recv().unwrap().as_str(), "");
        assert_eq!(rx.try_recv().unwrap().as_str(), "reboot");
        assert_eq!(rx.try_recv().unwrap().len(), 4096);
        assert!(rx.try_recv().is_err());
    }
}
