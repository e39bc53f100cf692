//! The `log` backend. At boot every line goes to `/dev/kmsg` with its syslog level (so
//! the real system's journal keeps it) and to the console when the kernel would not
//! already echo it there; the last lines are kept in memory for the `log` command.
//! On the host (CLI) lines go to stderr.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use log::{Level, LevelFilter, Log, Metadata, Record};

/// How many lines the in-memory log keeps.
const RING_LINES: usize = 2000;

/// One logged line, kept for `log` over SSH.
#[derive(Debug, Clone)]
pub struct LogLine {
    /// Seconds since boot (CLOCK_MONOTONIC, the kernel's timestamps).
    pub uptime: f64,
    pub level: Level,
    pub text: String,
}

enum Sink {
    /// PID 1: kmsg plus the console.
    Boot {
        kmsg: Option<File>,
        console: Option<File>,
        /// The kernel prints kmsg lines whose level is below this on the console itself.
        console_loglevel: u8,
    },
    /// The host CLI.
    Stderr,
}

struct Logger {
    sink: Mutex<Sink>,
    ring: Mutex<VecDeque<LogLine>>,
    /// Every new line, formatted, for `log -f` over SSH.
    follow: tokio::sync::broadcast::Sender<String>,
    verbose: AtomicBool,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Installs the boot logger. `/dev/kmsg` and `/dev/console` must exist (devtmpfs).
pub fn init_boot(verbose: bool) {
    let kmsg = OpenOptions::new().write(true).open("/dev/kmsg").ok();
    let console = OpenOptions::new().write(true).open("/dev/console").ok();
    let console_loglevel = std::fs::read_to_string("/proc/sys/kernel/printk")
        .ok()
        .and_then(|s| parse_console_loglevel(&s))
        .unwrap_or(4);
    install(
        Sink::Boot {
            kmsg,
            console,
            console_loglevel,
        },
        verbose,
    );
}

/// Installs the CLI logger (stderr).
pub fn init_cli(verbose: bool) {
    install(Sink::Stderr, verbose);
}

fn install(sink: Sink, verbose: bool) {
    let logger = LOGGER.get_or_init(|| Logger {
        sink: Mutex::new(sink),
        ring: Mutex::new(VecDeque::with_capacity(RING_LINES)),
        follow: tokio::sync::broadcast::channel(256).0,
        verbose: AtomicBool::new(verbose),
    });
    if log::set_logger(logger).is_ok() {
        log::set_max_level(if verbose {
            LevelFilter::Debug
        } else {
            LevelFilter::Info
        });
    }
}

/// Turns debug lines on or off (`rd.sesame.debug=1`, known only once the command line
/// is parsed).
pub fn set_verbose(verbose: bool) {
    if let Some(logger) = LOGGER.get() {
        logger.verbose.store(verbose, Ordering::Relaxed);
        log::set_max_level(if verbose {
            LevelFilter::Debug
        } else {
            LevelFilter::Info
        });
    }
}

/// Re-reads the console log level (it changes when `quiet` is handled or by sysctl).
pub fn refresh_console_loglevel() {
    let Some(logger) = LOGGER.get() else { return };
    let level = std::fs::read_to_string("/proc/sys/kernel/printk")
        .ok()
        .and_then(|s| parse_console_loglevel(&s));
    if let (Ok(mut sink), Some(level)) = (logger.sink.lock(), level) {
        if let Sink::Boot {
            console_loglevel, ..
        } = &mut *sink
        {
            *console_loglevel = level;
        }
    }
}

/// The lines logged so far (oldest first), for `log` over SSH and for `status`.
pub fn recent_lines() -> Vec<LogLine> {
    LOGGER
        .get()
        .and_then(|l| l.ring.lock().ok().map(|r| r.iter().cloned().collect()))
        .unwrap_or_default()
}

/// New log lines as they are written (formatted like `recent_lines`), for `log -f`.
pub fn follow() -> Option<tokio::sync::broadcast::Receiver<String>> {
    LOGGER.get().map(|l| l.follow.subscribe())
}

impl LogLine {
    /// `[   12.345] level: text`, as `log` over SSH shows it.
    pub fn render(&self) -> String {
        let level = match self.level {
            Level::Error => "error: ",
            Level::Warn => "warning: ",
            _ => "",
        };
        format!("[{:>10.3}] {level}{}", self.uptime, self.text)
    }
}

/// Writes a line straight to the console, bypassing kmsg: for prompts and banners that
/// must be seen whatever the console log level is.
pub fn console_write(text: &str) {
    if let Some(logger) = LOGGER.get() {
        if let Ok(mut sink) = logger.sink.lock() {
            match &mut *sink {
                Sink::Boot {
                    console: Some(c), ..
                } => {
                    let _ = c.write_all(text.as_bytes());
                }
                _ => {
                    let _ = std::io::stderr().write_all(text.as_bytes());
                }
            }
        }
    }
}

/// The first field of `/proc/sys/kernel/printk`.
pub fn parse_console_loglevel(printk: &str) -> Option<u8> {
    printk.split_whitespace().next()?.parse().ok()
}

/// syslog priority of a `log` level, as /dev/kmsg takes it (`<N>` prefix).
pub fn syslog_priority(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// One /dev/kmsg record: `<prio>sesame: text`. Control characters are escaped so a line
/// never splits into two records, and very long lines are cut (kmsg takes ~1 KiB).
pub fn kmsg_record(level: Level, text: &str) -> String {
    let mut out = format!("<{}>sesame: ", syslog_priority(level));
    for c in text.chars() {
        if out.len() > 900 {
            out.push('…');
            break;
        }
        if c == '\n' {
            out.push_str(" | ");
        } else if c.is_control() {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out.push('\n');
    out
}

/// CLOCK_MONOTONIC in seconds: the same clock as the kernel's log timestamps.
pub fn uptime() -> f64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as f64 + t.tv_nsec() as f64 / 1e9)
        .unwrap_or(0.0)
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= Level::Info || self.verbose.load(Ordering::Relaxed)
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        // Other crates (russh, rtnetlink…) are only heard from at warn and above, unless verbose.
        let ours = record
            .module_path()
            .map(|m| m.starts_with("sesame"))
            .unwrap_or(true);
        if !ours && record.level() > Level::Warn && !self.verbose.load(Ordering::Relaxed) {
            return;
        }
        let text = record.args().to_string();
        let line = LogLine {
            uptime: uptime(),
            level: record.level(),
            text: text.clone(),
        };
        // Nobody following is fine.
        let _ = self.follow.send(line.render());
        if let Ok(mut ring) = self.ring.lock() {
            if ring.len() == RING_LINES {
                ring.pop_front();
            }
            ring.push_back(line);
        }
        let Ok(mut sink) = self.sink.lock() else {
            return;
        };
        match &mut *sink {
            Sink::Boot {
                kmsg,
                console,
                console_loglevel,
            } => {
                let prio = syslog_priority(record.level());
                let kernel_echoes = kmsg.is_some() && prio < *console_loglevel;
                if let Some(k) = kmsg {
                    let _ = k.write_all(kmsg_record(record.level(), &text).as_bytes());
                }
                if !kernel_echoes {
                    if let Some(c) = console {
                        let _ = c.write_all(console_line(record.level(), &text).as_bytes());
                    }
                }
            }
            Sink::Stderr => {
                let _ = std::io::stderr().write_all(cli_line(record.level(), &text).as_bytes());
            }
        }
    }

    fn flush(&self) {}
}

fn console_line(level: Level, text: &str) -> String {
    match level {
        Level::Error => format!("sesame: ERROR: {text}\r\n"),
        Level::Warn => format!("sesame: warning: {text}\r\n"),
        _ => format!("sesame: {text}\r\n"),
    }
}

fn cli_line(level: Level, text: &str) -> String {
    match level {
        Level::Error => format!("error: {text}\n"),
        Level::Warn => format!("warning: {text}\n"),
        _ => format!("{text}\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kmsg_records_carry_levels_and_stay_one_line() {
        assert_eq!(kmsg_record(Level::Info, "hello"), "<6>sesame: hello\n");
        assert_eq!(kmsg_record(Level::Error, "a\nb"), "<3>sesame: a | b\n");
        assert_eq!(
            kmsg_record(Level::Warn, "x\u{1b}[0m"),
            "<4>sesame: x\\x1b[0m\n"
        );
        let long = "é".repeat(2000);
        let rec = kmsg_record(Level::Debug, &long);
        assert!(rec.len() < 1024, "{}", rec.len());
        assert!(rec.ends_with("…\n"));
    }

    #[test]
    fn console_loglevel_is_the_first_printk_field() {
        assert_eq!(parse_console_loglevel("7\t4\t1\t7\n"), Some(7));
        assert_eq!(parse_console_loglevel("4 4 1 7"), Some(4));
        assert_eq!(parse_console_loglevel(""), None);
        assert_eq!(parse_console_loglevel("x 4"), None);
    }
}
