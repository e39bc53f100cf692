//! Line editing for the prompts, as a pure state machine fed byte by byte. On a pty we own
//! the terminal (the client's is raw), so the editor does what a tty's line discipline
//! would: Enter submits, Backspace/DEL erases a character (UTF-8 aware), Ctrl-U the line,
//! Ctrl-W a word, Ctrl-C aborts, Ctrl-D on an empty line is end of input, escape sequences
//! (arrows, bracketed-paste markers) are skipped. A hidden prompt echoes nothing. Without a
//! pty the input is plain lines. The buffer is a fixed-capacity `Zeroizing` vector, so a
//! passphrase is never copied by a reallocation and is wiped when dropped.

use zeroize::{Zeroize, Zeroizing};

/// What the editor echoes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Echo {
    /// Nothing at all (passphrases).
    Hidden,
    /// The characters typed (the `sesame>` prompt).
    Visible,
}

/// Where the bytes come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// A pty: the client sends raw keystrokes.
    Terminal,
    /// No pty: plain bytes, a line ends at `\n` (a `\r` before it is dropped).
    Lines,
}

/// The outcome of one byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Keep reading.
    Pending,
    /// The line is complete: take it with [`LineEditor::take`].
    Submit,
    /// Ctrl-C.
    Abort,
    /// Ctrl-D on an empty line.
    Eof,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Esc {
    None,
    /// After ESC.
    Start,
    /// In a CSI sequence (`ESC [ … final`).
    Csi,
    /// After `ESC O`: one more byte.
    Ss3,
}

pub struct LineEditor {
    buf: Zeroizing<Vec<u8>>,
    cap: usize,
    echo: Echo,
    input: Input,
    esc: Esc,
    /// The last byte submitted a line with `\r`: a `\n` right after it is part of that Enter.
    after_cr: bool,
}

const BELL: u8 = 0x07;

impl LineEditor {
    /// An editor holding at most `cap` bytes (more are refused with a bell).
    pub fn new(echo: Echo, input: Input, cap: usize) -> Self {
        LineEditor {
            buf: Zeroizing::new(Vec::with_capacity(cap)),
            cap,
            echo,
            input,
            esc: Esc::None,
            after_cr: false,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The line so far.
    pub fn line(&self) -> &[u8] {
        &self.buf
    }

    /// Takes the line, leaving the editor empty and ready for the next one.
    pub fn take(&mut self) -> Zeroizing<Vec<u8>> {
        let fresh = Zeroizing::new(Vec::with_capacity(self.cap));
        self.esc = Esc::None;
        std::mem::replace(&mut self.buf, fresh)
    }

    /// Empties the line (wiping it).
    pub fn clear(&mut self) {
        self.buf.zeroize();
        self.esc = Esc::None;
    }

    /// Feeds one byte; whatever must be echoed is appended to `out`.
    pub fn feed(&mut self, byte: u8, out: &mut Vec<u8>) -> Outcome {
        match self.input {
            Input::Lines => self.feed_line(byte),
            Input::Terminal => self.feed_terminal(byte, out),
        }
    }

    fn feed_line(&mut self, byte: u8) -> Outcome {
        match byte {
            b'\n' => {
                if self.buf.last() == Some(&b'\r') {
                    self.erase_char();
                }
                Outcome::Submit
            }
            b => {
                self.push(b, &mut Vec::new());
                Outcome::Pending
            }
        }
    }

    fn feed_terminal(&mut self, byte: u8, out: &mut Vec<u8>) -> Outcome {
        let after_cr = std::mem::take(&mut self.after_cr);
        match self.esc {
            Esc::None => {}
            Esc::Start => {
                self.esc = match byte {
                    b'[' => Esc::Csi,
                    b'O' => Esc::Ss3,
                    _ => Esc::None,
                };
                return Outcome::Pending;
            }
            Esc::Csi => {
                if (0x40..=0x7e).contains(&byte) {
                    self.esc = Esc::None;
                }
                return Outcome::Pending;
            }
            Esc::Ss3 => {
                self.esc = Esc::None;
                return Outcome::Pending;
            }
        }
        match byte {
            0x03 => Outcome::Abort,
            0x04 if self.buf.is_empty() => Outcome::Eof,
            b'\r' => {
                self.after_cr = true;
                Outcome::Submit
            }
            b'\n' if after_cr => Outcome::Pending,
            b'\n' => Outcome::Submit,
            0x08 | 0x7f => {
                if self.erase_char() {
                    self.erase_echo(1, out);
                }
                Outcome::Pending
            }
            0x15 => {
                let n = self.width();
                self.clear();
                self.erase_echo(n, out);
                Outcome::Pending
            }
            0x17 => {
                let before = self.width();
                while self.buf.last() == Some(&b' ') {
                    self.erase_char();
                }
                while self.buf.last().is_some_and(|&b| b != b' ') {
                    self.erase_char();
                }
                self.erase_echo(before - self.width(), out);
                Outcome::Pending
            }
            0x1b => {
                self.esc = Esc::Start;
                Outcome::Pending
            }
            b'\t' => {
                self.push(byte, out);
                Outcome::Pending
            }
            b if b < 0x20 => Outcome::Pending,
            b => {
                self.push(b, out);
                Outcome::Pending
            }
        }
    }

    fn push(&mut self, byte: u8, out: &mut Vec<u8>) {
        if self.buf.len() >= self.cap {
            out.push(BELL);
            return;
        }
        self.buf.push(byte);
        if self.echo == Echo::Visible {
            out.push(byte);
        }
    }

    /// Removes the last character (all of its UTF-8 bytes). False if the line was empty.
    fn erase_char(&mut self) -> bool {
        while let Some(b) = self.buf.pop() {
            // `pop` leaves the byte in the spare capacity: wipe it there.
            if let Some(slot) = self.buf.spare_capacity_mut().first_mut() {
                slot.write(0);
            }
            if b & 0xc0 != 0x80 {
                return true;
            }
        }
        false
    }

    /// Characters on the line (what the terminal shows), counting UTF-8 lead bytes.
    fn width(&self) -> usize {
        self.buf.iter().filter(|&&b| b & 0xc0 != 0x80).count()
    }

    fn erase_echo(&self, n: usize, out: &mut Vec<u8>) {
        if self.echo == Echo::Visible {
            for _ in 0..n {
                out.extend_from_slice(b"\x08 \x08");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `bytes`; returns the outcome of the last byte that was not Pending (or
    /// Pending), the line and the echo.
    fn run(ed: &mut LineEditor, bytes: &[u8]) -> (Outcome, Vec<u8>, Vec<u8>) {
        let mut out = Vec::new();
        let mut last = Outcome::Pending;
        for &b in bytes {
            let o = ed.feed(b, &mut out);
            if o != Outcome::Pending {
                last = o;
                break;
            }
        }
        (last, ed.line().to_vec(), out)
    }

    fn hidden() -> LineEditor {
        LineEditor::new(Echo::Hidden, Input::Terminal, 64)
    }

    #[test]
    fn hidden_prompt_echoes_nothing() {
        let mut ed = hidden();
        let (o, line, out) = run(&mut ed, b"s3cret\r");
        assert_eq!(o, Outcome::Submit);
        assert_eq!(line, b"s3cret");
        assert!(out.is_empty());
        assert_eq!(&ed.take()[..], b"s3cret");
        assert!(ed.is_empty());
    }

    #[test]
    fn backspace_and_del_erase_one_character() {
        let mut ed = hidden();
        let (o, line, _) = run(&mut ed, b"abcd\x7f\x08e\r");
        assert_eq!(o, Outcome::Submit);
        assert_eq!(line, b"abe");
        let mut ed = hidden();
        let (_, line, _) = run(&mut ed, "pä\x7f".as_bytes());
        assert_eq!(line, b"p", "a two-byte character goes at once");
        let mut ed = hidden();
        let (o, line, _) = run(&mut ed, b"\x7f\x7fx\n");
        assert_eq!((o, line), (Outcome::Submit, b"x".to_vec()));
    }

    #[test]
    fn ctrl_u_and_ctrl_w() {
        let mut ed = hidden();
        let (_, line, _) = run(&mut ed, b"wrong\x15right");
        assert_eq!(line, b"right");
        let mut ed = hidden();
        let (_, line, _) = run(&mut ed, b"one two  \x17");
        assert_eq!(line, b"one ");
    }

    #[test]
    fn ctrl_c_aborts_and_ctrl_d_ends_an_empty_line() {
        let mut ed = hidden();
        assert_eq!(run(&mut ed, b"abc\x03").0, Outcome::Abort);
        let mut ed = hidden();
        assert_eq!(run(&mut ed, b"\x04").0, Outcome::Eof);
        let mut ed = hidden();
        let (o, line, _) = run(&mut ed, b"ab\x04c\r");
        assert_eq!(
            (o, line),
            (Outcome::Submit, b"abc".to_vec()),
            "Ctrl-D mid-line is ignored"
        );
    }

    #[test]
    fn crlf_is_one_enter_even_across_reads() {
        let mut ed = hidden();
        let mut out = Vec::new();
        for &b in b"pw\r" {
            ed.feed(b, &mut out);
        }
        assert_eq!(&ed.take()[..], b"pw");
        assert_eq!(ed.feed(b'\n', &mut out), Outcome::Pending);
        assert_eq!(run(&mut ed, b"x\r").1, b"x");
    }

    #[test]
    fn escape_sequences_are_skipped() {
        let mut ed = hidden();
        let (_, line, _) = run(&mut ed, b"a\x1b[Ab\x1b[200~c\x1b[201~\x1bOPd\x1bxe\r");
        assert_eq!(line, b"abcde");
    }

    #[test]
    fn control_characters_are_ignored_but_tab_kept() {
        let mut ed = hidden();
        let (_, line, _) = run(&mut ed, b"a\x01\x02\tb\r");
        assert_eq!(line, b"a\tb");
    }

    #[test]
    fn capacity_is_enforced_with_a_bell() {
        let mut ed = LineEditor::new(Echo::Hidden, Input::Terminal, 3);
        let (_, line, out) = run(&mut ed, b"abcdef");
        assert_eq!(line, b"abc");
        assert_eq!(out, vec![BELL; 3]);
    }

    #[test]
    fn visible_echo_and_erase() {
        let mut ed = LineEditor::new(Echo::Visible, Input::Terminal, 64);
        let (_, line, out) = run(&mut ed, b"stat\x7fus");
        assert_eq!(line, b"staus");
        assert_eq!(out, b"stat\x08 \x08us");
        let (_, _, out) = run(&mut ed, b"\x15");
        assert_eq!(out, b"\x08 \x08".repeat(5));
    }

    #[test]
    fn lines_mode_takes_bytes_literally() {
        let mut ed = LineEditor::new(Echo::Hidden, Input::Lines, 64);
        let (o, line, out) = run(&mut ed, b"a\x03b\x7f\r\n");
        assert_eq!(o, Outcome::Submit);
        assert_eq!(line, b"a\x03b\x7f");
        assert!(out.is_empty());
    }
}
