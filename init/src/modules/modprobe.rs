//! The `modprobe` the kernel runs for `request_module()` (dm-crypt asking for
//! `crypto-xts(aes)`, mount asking for `fs-xfs`…). The image links `/sbin/modprobe` to
//! `/init`; invoked under that name, sesame loads what was asked and exits.

use std::path::PathBuf;

use super::index::ModuleIndex;
use super::load::Loader;

/// What the kernel asked for: `modprobe -q -- <name> [params…]`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Request {
    pub quiet: bool,
    pub names: Vec<String>,
}

/// Parses modprobe's arguments as the kernel passes them (and a few a human might).
pub fn parse_args(args: &[String]) -> Result<Request, String> {
    let mut req = Request::default();
    let mut only_names = false;
    let mut first_name_seen = false;
    for a in args {
        if only_names || !a.starts_with('-') {
            // The kernel passes one name; anything after it would be module parameters,
            // which request_module never sends. Keep names only.
            if !first_name_seen || !a.contains('=') {
                req.names.push(a.clone());
            }
            first_name_seen = true;
            continue;
        }
        match a.as_str() {
            "--" => only_names = true,
            "-q" | "--quiet" => req.quiet = true,
            "-b" | "--use-blacklist" | "-v" | "--verbose" | "-s" | "--syslog" => {}
            other => return Err(format!("unsupported option {other}")),
        }
    }
    if req.names.is_empty() {
        return Err("no module name given".into());
    }
    Ok(req)
}

/// Runs as modprobe; returns the exit code.
pub fn main(args: &[String]) -> i32 {
    let req = match parse_args(args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("modprobe (sesame): {e}");
            return 1;
        }
    };
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = PathBuf::from("/lib/modules").join(&release);
    let index = match ModuleIndex::read_dir(&dir) {
        Ok(i) => i,
        Err(e) => {
            if !req.quiet {
                eprintln!("modprobe (sesame): {e}");
            }
            return 1;
        }
    };
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let words: Vec<(String, Option<String>)> = crate::cmdline::split_words(&cmdline)
        .into_iter()
        .map(|w| (w.key, w.value))
        .collect();
    let loader = Loader::new(&dir, index, &words);
    let mut code = 0;
    for name in &req.names {
        if let Err(e) = loader.load(name) {
            if !req.quiet {
                eprintln!("modprobe (sesame): {e}");
            }
            code = 1;
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn kernel_style_arguments() {
        let r = parse_args(&args(&["-q", "--", "crypto-xts(aes)"])).unwrap();
        assert!(r.quiet);
        assert_eq!(r.names, vec!["crypto-xts(aes)"]);
        let r = parse_args(&args(&["fs-xfs"])).unwrap();
        assert!(!r.quiet);
        assert_eq!(r.names, vec!["fs-xfs"]);
        let r = parse_args(&args(&["-b", "e1000e", "InterruptThrottleRate=1"])).unwrap();
        assert_eq!(r.names, vec!["e1000e"]);
    }

    #[test]
    fn malformed_arguments() {
        assert!(parse_args(&args(&[])).is_err());
        assert!(parse_args(&args(&["-q", "--"])).is_err());
        assert!(parse_args(&args(&["-r", "x"])).unwrap_err().contains("-r"));
    }
}
