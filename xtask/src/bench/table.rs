//! The bench's samples and its table: median (min–max) per figure and system, and the
//! ratio sesame/Debian of the medians, as a Markdown table for the README.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use sesame_qemu::InitramfsStats;

use super::System;

/// Samples per figure and system.
#[derive(Default)]
pub(crate) struct Samples(BTreeMap<(&'static str, System), Vec<f64>>);

impl Samples {
    pub(crate) fn add(&mut self, figure: &'static str, s: System, v: f64) {
        self.0.entry((figure, s)).or_default().push(v);
    }
    pub(crate) fn get(&self, figure: &'static str, s: System) -> &[f64] {
        self.0.get(&(figure, s)).map_or(&[], Vec::as_slice)
    }
}

/// (median, min, max), or None for no samples.
fn stats(v: &[f64]) -> Option<(f64, f64, f64)> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    let med = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    Some((med, s[0], s[n - 1]))
}

/// `median (min–max)` with `digits` decimals, the median alone for one sample, `–` for none.
fn cell(v: &[f64], digits: usize) -> String {
    match stats(v) {
        Some((med, lo, hi)) if v.len() > 1 => {
            format!("{med:.digits$} ({lo:.digits$}–{hi:.digits$})")
        }
        Some((med, _, _)) => format!("{med:.digits$}"),
        None => "–".into(),
    }
}

/// The ratio of the medians, `–` when either is missing.
fn ratio(a: &[f64], b: &[f64]) -> String {
    match (stats(a), stats(b)) {
        (Some((x, _, _)), Some((y, _, _))) if y > 0.0 => format!("{:.2}", x / y),
        _ => "–".into(),
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// One row per figure; `de` is None when Debian's image could not be built.
pub(crate) fn table(
    s: &Samples,
    se: &InitramfsStats,
    de: Option<&InitramfsStats>,
    binary_bytes: u64,
    argon2: bool,
) -> String {
    let (a, b) = (System::Sesame, System::Debian);
    let mut rows: Vec<[String; 4]> = Vec::new();
    let timed = |label: &str, fig: &'static str, digits: usize| -> [String; 4] {
        [
            label.to_string(),
            cell(s.get(fig, a), digits),
            cell(s.get(fig, b), digits),
            ratio(s.get(fig, a), s.get(fig, b)),
        ]
    };
    rows.push(timed("1. QEMU start → SSH banner (s)", "banner", 2));
    // The floor is one measurement of the kernel alone, shown in both columns.
    let floor = cell(s.get("floor", a), 2);
    rows.push([
        "   kernel alone → VFS panic, the floor (s)".into(),
        floor.clone(),
        floor,
        String::new(),
    ]);
    let over = |sys: System| match (stats(s.get("banner", sys)), stats(s.get("floor", a))) {
        (Some((x, _, _)), Some((f, _, _))) => format!("{:+.2}", x - f),
        _ => "–".into(),
    };
    rows.push([
        "   banner − floor, medians (s)".into(),
        over(a),
        over(b),
        String::new(),
    ]);
    rows.push(timed(
        "2. passphrase → real root, PBKDF2 1000 it. (s)",
        "unlock_cheap",
        2,
    ));
    if argon2 {
        rows.push(timed(
            "   passphrase → real root, default Argon2id (s)",
            "unlock_argon2",
            2,
        ));
    }
    rows.push(timed(
        "   SSH round trip, trivial command (s)",
        "ssh_rtt",
        2,
    ));
    let size = |label: &str, x: f64, y: Option<f64>| -> [String; 4] {
        [
            label.to_string(),
            format!("{x:.2}"),
            y.map_or("–".into(), |y| format!("{y:.2}")),
            y.map_or("–".into(), |y| format!("{:.2}", x / y)),
        ]
    };
    rows.push(size(
        "3. image, compressed (MiB)",
        mib(se.compressed_bytes),
        de.map(|d| mib(d.compressed_bytes)),
    ));
    rows.push(size(
        "   image, unpacked (MiB)",
        mib(se.unpacked_bytes),
        de.map(|d| mib(d.unpacked_bytes)),
    ));
    rows.push([
        "   the sesame binary alone (MiB)".into(),
        format!("{:.2}", mib(binary_bytes)),
        String::new(),
        String::new(),
    ]);
    rows.push([
        "   files (all entries)".into(),
        format!("{} ({})", se.files.len(), se.entries),
        de.map_or("–".into(), |d| {
            format!("{} ({})", d.files.len(), d.entries)
        }),
        de.map_or("–".into(), |d| {
            format!("{:.2}", se.files.len() as f64 / d.files.len().max(1) as f64)
        }),
    ]);
    rows.push(timed(
        "4. memory in use before unlock, MemTotal − MemAvailable (MiB)",
        "mem_in_use",
        1,
    ));
    rows.push(timed("   MemTotal − MemFree (MiB)", "mem_allocated", 1));
    rows.push(timed("   PID 1 peak RSS (MiB)", "rss_self", 1));
    rows.push(timed(
        "   largest peak RSS, PID 1 or any process it reaped (MiB)",
        "rss_largest",
        1,
    ));
    if argon2 {
        rows.push(timed(
            "   the same, Argon2id disk (MiB)",
            "rss_largest_argon2",
            1,
        ));
    }
    rows.push(timed("5. image build time (s)", "build", 2));

    let mut out = markdown(["figure", "sesame", "Debian", "sesame/Debian"], &rows);
    let n = |fig: &'static str| s.get(fig, a).len().max(s.get(fig, b).len());
    let _ = write!(
        out,
        "\nmedian (min–max) over {} PBKDF2 boots per system{}, {} kernel-alone boots and {} \
         builds; sizes are of one build.",
        n("unlock_cheap"),
        if argon2 {
            format!(" ({} with the Argon2id disk)", n("unlock_argon2"))
        } else {
            String::new()
        },
        n("floor"),
        n("build")
    );
    out
}

/// A Markdown table with padded columns.
fn markdown(header: [&str; 4], rows: &[[String; 4]]) -> String {
    let widths: Vec<usize> = (0..4)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |r: &[String]| {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c}{}", " ".repeat(widths[i] - c.chars().count())))
            .collect();
        format!("| {} |", cells.join(" | "))
    };
    let mut out = String::new();
    let _ = writeln!(out, "{}", line(&header.map(String::from)));
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(w + 2)).collect();
    let _ = writeln!(out, "|{}|", rule.join("|"));
    for r in rows {
        let _ = writeln!(out, "{}", line(r));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max() {
        assert_eq!(stats(&[3.0, 1.0, 2.0]), Some((2.0, 1.0, 3.0)));
        assert_eq!(stats(&[4.0, 1.0, 2.0, 3.0]), Some((2.5, 1.0, 4.0)));
        assert_eq!(stats(&[]), None);
        assert_eq!(cell(&[1.0, 3.0, 2.0], 1), "2.0 (1.0–3.0)");
        assert_eq!(cell(&[1.234], 2), "1.23");
        assert_eq!(cell(&[], 2), "–");
    }

    #[test]
    fn ratio_of_medians() {
        assert_eq!(ratio(&[1.0, 2.0, 3.0], &[4.0]), "0.50");
        assert_eq!(ratio(&[1.0], &[]), "–");
        assert_eq!(ratio(&[1.0], &[0.0]), "–");
    }

    #[test]
    fn a_missing_baseline_shows_dashes() {
        let mut s = Samples::default();
        s.add("banner", System::Sesame, 2.5);
        s.add("floor", System::Sesame, 2.0);
        let se = InitramfsStats {
            compressed_bytes: 1 << 20,
            ..Default::default()
        };
        let t = table(&s, &se, None, 1 << 20, false);
        let banner = t.lines().find(|l| l.contains("SSH banner")).unwrap();
        assert!(
            banner.contains("| 2.50 ") && banner.contains("| – "),
            "{banner}"
        );
        let over = t.lines().find(|l| l.contains("banner − floor")).unwrap();
        assert!(over.contains("+0.50"), "{over}");
        assert!(!t.contains("Argon2id"));
    }
}
