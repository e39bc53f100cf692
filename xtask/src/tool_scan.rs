//! A unit test that every external program the workspace's Rust sources name (the tests,
//! the harness, the bench, xtask) has an entry in `sesame_qemu::TOOL_PACKAGES` (so
//! `require_tools` knows its Debian package, and `cargo xtask test` installs it) or in
//! `sesame_qemu::UNPACKAGED_TOOLS`. A program missing there fails here, with its file and
//! line, instead of as a failed test on a fresh machine.
//!
//! The scan reads string literals given as a program: `Command::new("…")`, `command("…")`,
//! `tool("…")`, `tool_path("…")`, `first_line("…", …)`, every literal of
//! `require_tools(&[…])`, the program of `mkfs(…, "…", …)`, the program after
//! `"netns", "exec", <name>,` in an argv list, and the first word of argv lists given to
//! [`ARGV_HELPERS`]. Comments and the insides of other string literals (this file's
//! fixture) are not code and are skipped. A program given by a variable is not seen: pass
//! it through `require_tools` or `command`, which check the table when the test runs.

use std::path::{Path, PathBuf};

/// Directories (relative to the workspace root) not scanned, with why.
const SKIPPED: &[(&str, &str)] = &[
    (
        "qemu/marker",
        "the marker is the guest's init: it runs its programs inside the VM, from the \
         guest's root, never on the host",
    ),
    (
        "bench/probe.rs",
        "the bench root's init=, run inside the VM (it execs the guest's /sbin/init)",
    ),
    ("fuzz/corpus", "fuzzer inputs"),
    ("fuzz/artifacts", "fuzzer inputs"),
    ("fuzz/coverage", "fuzzer output"),
];

/// Functions whose first argument is an argv list (`&["program", args…]`), with the file
/// they are called in (`""`: anywhere, as a method of a receiver named `ns`).
const ARGV_HELPERS: &[(&str, &str)] = &[
    // NetNs::run(&["ip", …]) inside its own file, and `ns.run(&[…])` anywhere.
    ("qemu/src/netns.rs", "run"),
    ("", "run"),
    // The dump helper of the image tests.
    ("qemu/tests/images.rs", "dump"),
];

/// Functions whose first string argument is the program.
const PROGRAM_FIRST: &[&str] = &["command", "tool", "tool_path", "first_line"];

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Punct(char),
}

/// Rust source as identifiers, string literals and punctuation, each with its line;
/// comments, char literals and lifetimes dropped.
fn lex(src: &str) -> Vec<(usize, Tok)> {
    let c: Vec<char> = src.chars().collect();
    let at = |i: usize| c.get(i).copied().unwrap_or('\0');
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if c[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if let Some((hashes, start)) = raw_string_start(&c, i) {
            let first = line;
            let mut j = start;
            let mut text = String::new();
            while j < c.len() {
                if c[j] == '"' && (1..=hashes).all(|k| at(j + k) == '#') {
                    break;
                }
                if c[j] == '\n' {
                    line += 1;
                }
                text.push(c[j]);
                j += 1;
            }
            out.push((first, Tok::Str(text)));
            i = j + 1 + hashes;
        } else if ch == '"' || (ch == 'b' && at(i + 1) == '"') {
            let first = line;
            let mut j = if ch == 'b' { i + 2 } else { i + 1 };
            let mut text = String::new();
            while j < c.len() && c[j] != '"' {
                if c[j] == '\\' {
                    j += 1;
                }
                if at(j) == '\n' {
                    line += 1;
                }
                text.push(at(j));
                j += 1;
            }
            out.push((first, Tok::Str(text)));
            i = j + 1;
        } else if ch == '\'' || (ch == 'b' && at(i + 1) == '\'') {
            let q = if ch == 'b' { i + 1 } else { i };
            if at(q + 1) == '\\' {
                // An escaped char literal: '\n', '\'', '\u{1b}'.
                let mut j = q + 3;
                while j < c.len() && c[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
            } else if at(q + 2) == '\'' {
                i = q + 3;
            } else {
                // A lifetime or a loop label: the quote, then the identifier.
                i = q + 1;
                while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
            }
        } else if ch.is_alphanumeric() || ch == '_' {
            let mut j = i;
            while j < c.len() && (c[j].is_alphanumeric() || c[j] == '_') {
                j += 1;
            }
            out.push((line, Tok::Ident(c[i..j].iter().collect())));
            i = j;
        } else {
            out.push((line, Tok::Punct(ch)));
            i += 1;
        }
    }
    out
}

/// At a raw string (`r"`, `r#"`, `br##"`…): its number of hashes and where its text starts.
fn raw_string_start(c: &[char], i: usize) -> Option<(usize, usize)> {
    let mut j = i;
    if c.get(j) == Some(&'b') {
        j += 1;
    }
    if c.get(j) != Some(&'r') || (i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_')) {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while c.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    (c.get(j) == Some(&'"')).then_some((hashes, j + 1))
}

/// The programs `src` (the file `rel`, relative to the workspace root) names, with their
/// lines.
fn programs(rel: &str, src: &str) -> Vec<(usize, String)> {
    let t = lex(src);
    let ident = |k: usize, s: &str| matches!(t.get(k), Some((_, Tok::Ident(x))) if x == s);
    let punct = |k: usize, p: char| matches!(t.get(k), Some((_, Tok::Punct(x))) if *x == p);
    let string = |k: usize| match t.get(k) {
        Some((line, Tok::Str(s))) => Some((*line, s.clone())),
        _ => None,
    };
    let is_str = |k: usize, s: &str| string(k).is_some_and(|(_, x)| x == s);
    let declared = |k: usize| k > 0 && ident(k - 1, "fn");
    // The index of the token closing the bracket opened at `open`.
    let close = |open: usize| {
        let mut depth = 0usize;
        for (k, (_, tok)) in t.iter().enumerate().skip(open) {
            match tok {
                Tok::Punct('(' | '[' | '{') => depth += 1,
                Tok::Punct(')' | ']' | '}') => {
                    depth -= 1;
                    if depth == 0 {
                        return k;
                    }
                }
                _ => {}
            }
        }
        t.len()
    };
    // The string literals directly inside the bracket opened at `open`.
    let top_level_strings = |open: usize| {
        let end = close(open);
        let mut depth = 0usize;
        let mut found = Vec::new();
        for (line, tok) in t.iter().take(end).skip(open) {
            match tok {
                Tok::Punct('(' | '[' | '{') => depth += 1,
                Tok::Punct(')' | ']' | '}') => depth -= 1,
                Tok::Str(s) if depth == 1 => found.push((*line, s.clone())),
                _ => {}
            }
        }
        found
    };
    let mut out = Vec::new();
    for i in 0..t.len() {
        // Command::new("…")
        if ident(i, "Command")
            && punct(i + 1, ':')
            && punct(i + 2, ':')
            && ident(i + 3, "new")
            && punct(i + 4, '(')
        {
            out.extend(string(i + 5));
        }
        // command("…"), tool("…"), tool_path("…"), first_line("…", …)
        if PROGRAM_FIRST.iter().any(|f| ident(i, f)) && punct(i + 1, '(') && !declared(i) {
            out.extend(string(i + 2));
        }
        // require_tools(&["…", "…"])
        if ident(i, "require_tools") && punct(i + 1, '(') && punct(i + 2, '&') && punct(i + 3, '[')
        {
            out.extend(top_level_strings(i + 3));
        }
        // mkfs(dir, size, "mkfs.…", &[args…])
        if ident(i, "mkfs") && punct(i + 1, '(') && !declared(i) {
            out.extend(top_level_strings(i + 1).into_iter().next());
        }
        // ["netns", "exec", <namespace>, "program", …]
        if is_str(i, "netns") && punct(i + 1, ',') && is_str(i + 2, "exec") && punct(i + 3, ',') {
            let mut depth = 0usize;
            let mut k = i + 4;
            while let Some((_, tok)) = t.get(k) {
                match tok {
                    Tok::Punct('(' | '[' | '{') => depth += 1,
                    Tok::Punct(')' | ']' | '}') if depth == 0 => break,
                    Tok::Punct(')' | ']' | '}') => depth -= 1,
                    Tok::Punct(',') if depth == 0 => {
                        out.extend(string(k + 1));
                        break;
                    }
                    _ => {}
                }
                k += 1;
            }
        }
        // Argv helpers: run(&["program", …]).
        let helper = ARGV_HELPERS.iter().any(|(file, f)| {
            ident(i, f)
                && if file.is_empty() {
                    i >= 2 && punct(i - 1, '.') && ident(i - 2, "ns")
                } else {
                    rel == *file && !declared(i)
                }
        });
        if helper && punct(i + 1, '(') && punct(i + 2, '&') && punct(i + 3, '[') {
            out.extend(string(i + 4));
        }
    }
    out
}

/// The workspace's `.rs` files outside build directories and [`SKIPPED`], relative paths
/// with `/`.
fn rust_sources(root: &Path) -> Vec<(String, PathBuf)> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for e in entries {
            let path = e.unwrap().path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if name.starts_with('.')
                || name.starts_with("target")
                || SKIPPED.iter().any(|(s, _)| rel == *s)
            {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if name.ends_with(".rs") {
                found.push((rel, path));
            }
        }
    }
    found.sort();
    found
}

fn known(program: &str) -> bool {
    sesame_qemu::TOOL_PACKAGES
        .iter()
        .chain(sesame_qemu::UNPACKAGED_TOOLS)
        .any(|(t, _)| *t == program)
}

#[test]
fn every_program_the_sources_run_has_a_package() {
    let root = crate::workspace_root();
    let sources = rust_sources(&root);
    assert!(
        sources.iter().any(|(r, _)| r == "qemu/src/tools.rs"),
        "the scan did not find the harness in {}",
        root.display()
    );
    let mut seen = 0;
    let mut missing = Vec::new();
    for (rel, path) in &sources {
        let src = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{rel}: {e}"));
        for (line, program) in programs(rel, &src) {
            seen += 1;
            if !known(&program) {
                missing.push(format!("{rel}:{line}: `{program}`"));
            }
        }
    }
    assert!(
        seen > 50,
        "the scan found only {seen} programs: is it broken?"
    );
    assert!(
        missing.is_empty(),
        "programs run without an entry in sesame_qemu::TOOL_PACKAGES (qemu/src/tools.rs): \
         add each with its Debian package, and the package to PACKAGES in \
         xtask/src/setup.rs (or, for a program no package provides, to UNPACKAGED_TOOLS \
         with why):\n  {}",
        missing.join("\n  ")
    );
}

/// Source the scan must read right; its literals are inside this string, so the scan of
/// this file finds none of them.
const FIXTURE: &str = r##"use std::process::Command;
fn f(ns: &NetNs, dir: &Path) -> Result<()> {
    // Command::new("in-a-comment") is not run, /* nor */ tool("this");
    /* Command::new("in-a-block-comment") /* nested */ tool("still-a-comment") */
    let _ = "Command::new(\"in-a-string\")";
    let (c, s): (char, &'static str) = ('"', "tool");
    Command::new("prog-a").arg("not-a-program");
    std::process::Command::new(
        "prog-b",
    );
    sesame_qemu::command("prog-c")?;
    let mut crowd = ns.command("prog-d");
    tool("prog-e");
    require_tools(&["prog-f", "prog-g"])?;
    let img = mkfs(dir, 8 << 20, "prog-h", &["-q", "-L", "a label"]);
    cmd.args(["netns", "exec", self.ns(0), "prog-i", "--flag"]);
    c.args(["netns", "exec", ns]).arg(&qemu);
    ns.run(&["prog-j", "link", "set", "lo", "up"])?;
    operator.run(&["status"], None, CMD)?;
    Command::new(&path);
    fn command(tool: &str) -> Command { Command::new(r"prog-k") }
    let q = first_line("prog-l", &["--version"]);
    let r = r#"Command::new("in-a-raw-string")"#;
    run(&["not-a-helper-here"]);
}
"##;

#[test]
fn the_scan_reads_programs_not_comments_or_strings() {
    let found = programs("x/src/fixture.rs", FIXTURE);
    let names: Vec<&str> = found.iter().map(|(_, p)| p.as_str()).collect();
    assert_eq!(
        names,
        [
            "prog-a", "prog-b", "prog-c", "prog-d", "prog-e", "prog-f", "prog-g", "prog-h",
            "prog-i", "prog-j", "prog-k", "prog-l"
        ]
    );
    let lines: Vec<usize> = found.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, [7, 9, 11, 12, 13, 14, 14, 15, 16, 18, 21, 22]);
    // The file's own helpers count only in their file.
    let netns = "fn b(&self) { self.run(&[\"prog-m\"]); run(&[\"prog-n\"]); }";
    let names = |rel| -> Vec<String> { programs(rel, netns).into_iter().map(|(_, p)| p).collect() };
    assert_eq!(names("qemu/src/netns.rs"), ["prog-m", "prog-n"]);
    assert!(names("tests/ssh.rs").is_empty());
}

#[test]
fn the_scan_reports_a_missing_program_with_its_line() {
    let src =
        "fn f() {\n    let _ = Command::new(\"sh\");\n    Command::new(\"no-such-program\");\n}\n";
    let unknown: Vec<(usize, String)> = programs("a.rs", src)
        .into_iter()
        .filter(|(_, p)| !known(p))
        .collect();
    assert_eq!(unknown, [(3, "no-such-program".to_string())]);
}
