//! `sesame check`: what would break the boot, found on the host before it happens. Run on
//! demand and before every build by `install` and the kernel hooks. Each finding says what
//! to do; errors make the command fail. The checks read the host under a root prefix
//! ([`Host`]), so a test can plant each problem in a scratch tree.
//!
//! The checks themselves live in the submodules: the config and the modules (root
//! filesystem, NIC drivers and their firmware), keys and permissions, crypttab volumes,
//! the kernel's decompressor.

mod kernel;
mod keys;
mod modules;
mod volumes;

use anyhow::Result;
use clap::Args;

use crate::cli::InputArgs;
use crate::config::{self, Config};
use crate::host::{Host, Inputs, RootArg};
use crate::image::elf;
use crate::modules::index::ModuleIndex;

/// The text of `path`, or `None` with an error finding that names it.
pub(crate) fn read_or_report(path: &std::path::Path, out: &mut Vec<Finding>) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(t) => Some(t),
        Err(e) => {
            out.push(error(format!("{}: {e}", path.display())));
            None
        }
    }
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Ok,
    Warning,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub text: String,
}

pub(crate) fn ok(text: String) -> Finding {
    Finding {
        severity: Severity::Ok,
        text,
    }
}
pub(crate) fn warn(text: String) -> Finding {
    Finding {
        severity: Severity::Warning,
        text,
    }
}
pub(crate) fn error(text: String) -> Finding {
    Finding {
        severity: Severity::Error,
        text,
    }
}

/// `sesame check`'s arguments.
#[derive(Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    pub root: RootArg,
    #[command(flatten)]
    pub inputs: InputArgs,
}

/// `sesame check`: prints every finding; exit code 1 when any is an error.
pub fn run(args: &CheckArgs) -> Result<i32> {
    let host = args.root.host();
    let inputs = args.inputs.resolve(&host)?;
    let findings = check_all(&host, &inputs);
    print(&findings, &mut std::io::stdout());
    Ok(if has_errors(&findings) { 1 } else { 0 })
}

/// The checks a build runs first. With errors, prints every finding and returns false
/// (the caller says why no image was written); else prints the warnings and returns true.
pub fn before_build(host: &Host, inputs: &Inputs, out: &mut dyn std::io::Write) -> bool {
    let findings = check_all(host, inputs);
    if has_errors(&findings) {
        print(&findings, out);
        return false;
    }
    for f in findings.iter().filter(|f| f.severity != Severity::Ok) {
        let _ = writeln!(out, "sesame: warning: {}", f.text);
    }
    true
}

/// Whether any finding is an error.
pub fn has_errors(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.severity == Severity::Error)
}

/// Writes the findings, one per line, and a closing line when some are errors.
pub fn print(findings: &[Finding], out: &mut dyn std::io::Write) {
    for f in findings {
        let tag = match f.severity {
            Severity::Ok => "ok",
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        let _ = writeln!(out, "{tag}: {}", f.text);
    }
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    if errors > 0 {
        let _ = writeln!(
            out,
            "{errors} problem(s) would break the boot; fix them, then run `sesame check` again"
        );
    }
}

/// Every check, in the order a reader wants them.
pub fn check_all(host: &Host, inputs: &Inputs) -> Vec<Finding> {
    let mut out = Vec::new();
    let config = check_host(host, inputs, &mut out);
    check_kernel(host, inputs, &config, &mut out);
    out
}

/// The checks that do not depend on the kernel: the config (returned, defaults when it
/// is broken), authorized_keys, crypttab volumes, the host key, `/boot`, this binary.
pub fn check_host(host: &Host, inputs: &Inputs, out: &mut Vec<Finding>) -> Config {
    let config = check_config(inputs.config.as_deref(), out);
    keys::check_authorized_keys(inputs.authorized_keys.as_deref(), out);
    volumes::check(host, inputs.crypttab.as_deref(), &config, out);
    keys::check_host_key(host, inputs.host_key.as_deref(), out);
    keys::check_boot_dir(host, out);
    check_self_static(out);
    config
}

/// The checks of one kernel (`inputs.modules_dir`): the modules this host needs, and the
/// decompressor of the image's compression.
pub fn check_kernel(host: &Host, inputs: &Inputs, config: &Config, out: &mut Vec<Finding>) {
    match ModuleIndex::read_dir(&inputs.modules_dir) {
        Err(e) => out.push(error(format!(
            "{}: {e}; give --kernel-version (or --modules-dir) of an installed kernel",
            inputs.modules_dir.display()
        ))),
        Ok(index) => modules::check(host, inputs, &index, config, out),
    }
    kernel::check_decompressor(host, &inputs.kernel(), inputs.compress, out);
}

fn check_config(path: Option<&std::path::Path>, out: &mut Vec<Finding>) -> Config {
    let Some(path) = path else {
        out.push(ok("no config file; defaults apply".into()));
        return Config::default();
    };
    let Some(text) = read_or_report(path, out) else {
        return Config::default();
    };
    match config::parse(&text, &path.display().to_string()) {
        Ok(c) => {
            out.push(ok(format!("config {} parses", path.display())));
            c
        }
        Err(e) => {
            out.push(error(format!("{e}; `sesame help config` lists every key")));
            Config::default()
        }
    }
}

fn check_self_static(out: &mut Vec<Finding>) {
    let Ok(me) = std::env::current_exe().and_then(std::fs::read) else {
        return;
    };
    if elf::needs_interpreter(&me) == Some(true) {
        out.push(warn(
            "this sesame binary is dynamically linked and cannot be /init; `sesame build` needs \
             the static one (cargo xtask build) or --init-binary"
                .into(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_config_is_an_error_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.toml");
        std::fs::write(&p, "[ssh]\nprot = 22\n").unwrap();
        let mut out = Vec::new();
        let c = check_config(Some(&p), &mut out);
        assert_eq!(c, Config::default());
        assert_eq!(out[0].severity, Severity::Error);
        assert!(out[0].text.contains("prot"), "{:?}", out[0]);
        assert!(out[0].text.contains("sesame help config"), "{:?}", out[0]);
        let mut out = Vec::new();
        check_config(None, &mut out);
        assert_eq!(out[0].severity, Severity::Ok);
    }

    #[test]
    fn printing_counts_the_errors() {
        let mut buf = Vec::new();
        print(
            &[ok("fine".into()), warn("hmm".into()), error("bad".into())],
            &mut buf,
        );
        let text = String::from_utf8(buf).unwrap();
        assert!(
            text.starts_with("ok: fine\nwarning: hmm\nerror: bad\n"),
            "{text}"
        );
        assert!(text.contains("1 problem(s)"), "{text}");
        assert!(has_errors(&[error("x".into())]));
        assert!(!has_errors(&[warn("x".into())]));
    }
}
