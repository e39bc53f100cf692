//! A session's exit status: what each code means (listed by `help`) and how the boot's
//! answers map to them.

use crate::boot::UnlockReply;
use crate::command::CommandError;

/// The command did what was asked (volume opened or already open, command done).
pub const OK: u32 = 0;
/// The boot reported an error, or refused (`continue` outside `rd.break`…).
pub const FAILED: u32 = 1;
/// Bad arguments, or no passphrase on stdin.
pub const USAGE: u32 = 2;
/// The passphrase does not open the volume.
pub const WRONG_PASSPHRASE: u32 = 3;
/// No volume by that name.
pub const NO_SUCH_VOLUME: u32 = 4;
/// Nothing waits for a passphrase (nothing locked, or devices not there yet).
pub const NOTHING_LOCKED: u32 = 5;
/// Too many wrong passphrases: the boot stopped asking for the volume.
pub const GAVE_UP: u32 = 6;
/// The key's `command=` (or certificate's force-command) forbids this command.
pub const NOT_PERMITTED: u32 = 7;
/// Unknown command.
pub const UNKNOWN_COMMAND: u32 = 127;
/// Ctrl-C (or a signal) stopped the prompt; nothing was sent.
pub const INTERRUPTED: u32 = 130;

/// Every code with its meaning, for `help`.
pub const TABLE: &[(u32, &str)] = &[
    (OK, "done (the volume is open, the command ran)"),
    (FAILED, "the boot reported an error or refused"),
    (USAGE, "bad arguments, or no passphrase on stdin"),
    (WRONG_PASSPHRASE, "wrong passphrase"),
    (NO_SUCH_VOLUME, "no volume by that name"),
    (NOTHING_LOCKED, "nothing waits for a passphrase"),
    (
        GAVE_UP,
        "too many wrong passphrases; the boot gave up on the volume",
    ),
    (NOT_PERMITTED, "this key may not run that command"),
    (UNKNOWN_COMMAND, "unknown command"),
    (INTERRUPTED, "interrupted (Ctrl-C); nothing was sent"),
];

/// The exit status of a non-interactive `unlock` given the boot's answer.
pub fn for_unlock(reply: &UnlockReply) -> u32 {
    match reply {
        UnlockReply::Opened(_) | UnlockReply::AlreadyOpen(_) => OK,
        UnlockReply::Wrong { .. } => WRONG_PASSPHRASE,
        UnlockReply::NoSuchVolume(_) => NO_SUCH_VOLUME,
        UnlockReply::NothingLocked => NOTHING_LOCKED,
        UnlockReply::GaveUp { .. } => GAVE_UP,
        UnlockReply::Error(_) => FAILED,
    }
}

/// The exit status of a command line that does not parse.
pub fn for_command_error(e: &CommandError) -> u32 {
    match e {
        CommandError::Unknown(_) => UNKNOWN_COMMAND,
        CommandError::Usage { .. } => USAGE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlock_replies() {
        assert_eq!(for_unlock(&UnlockReply::Opened(vec!["root".into()])), 0);
        assert_eq!(for_unlock(&UnlockReply::AlreadyOpen("root".into())), 0);
        assert_eq!(
            for_unlock(&UnlockReply::Wrong {
                volume: "root".into()
            }),
            3
        );
        assert_eq!(for_unlock(&UnlockReply::NoSuchVolume("x".into())), 4);
        assert_eq!(for_unlock(&UnlockReply::NothingLocked), 5);
        assert_eq!(
            for_unlock(&UnlockReply::GaveUp {
                volume: "root".into()
            }),
            6
        );
        assert_eq!(for_unlock(&UnlockReply::Error("io".into())), 1);
    }

    #[test]
    fn command_errors() {
        let e = crate::command::parse("frob").unwrap_err();
        assert_eq!(for_command_error(&e), 127);
        let e = crate::command::parse("status --yaml").unwrap_err();
        assert_eq!(for_command_error(&e), 2);
    }

    #[test]
    fn codes_are_distinct_and_listed() {
        let mut codes: Vec<u32> = TABLE.iter().map(|(c, _)| *c).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), TABLE.len());
    }
}
