//! Fuzzes what a session reads from the client: the command line parser
//! (`sesame_remote::command`) never panics, its messages never carry control characters
//! to the operator's terminal, and a parsed command parses again from its canonical form;
//! the prompt's line editor never grows past its capacity nor echoes a hidden line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesame_remote::command::{self, Command, CommandError};
use sesame_remote::line_editor::{Echo, Input, LineEditor, Outcome};

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    match command::parse(&line) {
        Ok(cmd) => {
            let again = command::parse(&cmd.to_string());
            match (&cmd, again) {
                // "(interactive)" is how a shell is named in the log; "" parses to it.
                (Command::Shell, _) => assert_eq!(command::parse(""), Ok(Command::Shell)),
                // A volume name prints as `printable` shows it (escaped, at most 64
                // characters): it reads back as one word, as itself when nothing was escaped.
                (Command::Unlock { volume: Some(v) }, Ok(Command::Unlock { volume: Some(w) })) => {
                    if command::printable(v) == *v {
                        assert_eq!(&w, v);
                    }
                }
                (Command::Unlock { .. }, Ok(c)) => assert_eq!(c, cmd),
                (_, Ok(c)) => assert_eq!(c, cmd),
                (_, Err(e)) => panic!("{cmd:?} printed as {:?}: {e}", cmd.to_string()),
            }
        }
        Err(e) => {
            let text = e.to_string();
            assert!(!text.chars().any(char::is_control), "{text:?}");
            assert!(text.len() < 2000, "{} bytes", text.len());
            if let CommandError::Usage { message, .. } = &e {
                assert!(!message.is_empty());
            }
        }
    }
    let _ = command::split(&line);

    for (echo, input) in [
        (Echo::Hidden, Input::Terminal),
        (Echo::Visible, Input::Terminal),
        (Echo::Hidden, Input::Lines),
    ] {
        let mut ed = LineEditor::new(echo, input, 64);
        for &b in data {
            let mut out = Vec::new();
            match ed.feed(b, &mut out) {
                Outcome::Submit => {
                    let taken = ed.take();
                    assert!(taken.len() <= 64);
                }
                Outcome::Abort | Outcome::Eof => ed.clear(),
                Outcome::Pending => {}
            }
            assert!(ed.line().len() <= 64);
            if echo == Echo::Hidden {
                assert!(
                    out.iter().all(|&c| c == 0x07),
                    "a hidden line echoed {out:?}"
                );
            }
        }
    }
});
