//! A guest's memory use read from outside, without a shell or any help from its userspace:
//! [`guest_memory`] presses SysRq-M on the VM's PS/2 keyboard through the monitor, the
//! kernel prints its `show_mem()` report on the console, and [`parse_show_mem`] turns it
//! into the figures `/proc/meminfo` would give — `MemTotal` (the zones' managed pages),
//! `MemFree`, and `MemAvailable` computed exactly as the kernel's `si_mem_available()`
//! does (free pages minus the watermark reserve, plus the reclaimable half of the page
//! cache and of reclaimable slab). The guest's kernel command line must hold
//! `sysrq_always_enabled` (Debian's kernels allow no memory dump from the keyboard otherwise).
//! The report is printed at the default message level, which a quiet console (Debian's
//! initramfs leaves `console_loglevel` at 1) drops: the console level is raised with
//! SysRq-7 for the report and put back with SysRq-<level> afterwards.

use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::vm::Vm;

/// The report's last line (`<N> pages reserved`).
const LAST_LINE: &str = " pages reserved";
const PAGE_KIB: u64 = 4;

/// What a SysRq-M report says, in KiB.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuestMemory {
    /// `MemTotal`: the zones' managed pages.
    pub total_kib: u64,
    /// `MemFree`.
    pub free_kib: u64,
    /// `MemAvailable`, computed as `si_mem_available()` does.
    pub available_kib: u64,
    /// The part of `MemTotal − MemAvailable` that is the kernel's watermark reserve
    /// (`totalreserve_pages`): the same for any userspace on the same kernel and RAM size.
    pub reserve_kib: u64,
    /// Unevictable pages: in an initramfs, mostly the unpacked archive in rootfs.
    pub unevictable_kib: u64,
    /// Anonymous memory (processes' heaps and stacks).
    pub anon_kib: u64,
    /// Slab, reclaimable and not.
    pub slab_kib: u64,
}

impl GuestMemory {
    /// `MemTotal − MemAvailable`.
    pub fn in_use_kib(&self) -> u64 {
        self.total_kib.saturating_sub(self.available_kib)
    }
    /// `MemTotal − MemFree`.
    pub fn allocated_kib(&self) -> u64 {
        self.total_kib.saturating_sub(self.free_kib)
    }
}

/// The kernel's default `console_loglevel` (CONSOLE_LOGLEVEL_DEFAULT), which prints the
/// report.
pub const DEFAULT_CONSOLE_LOGLEVEL: u8 = 7;

/// Presses SysRq-7, SysRq-M (`sendkey alt-sysrq-m`) and SysRq-`restore_loglevel`, and parses
/// the memory report the kernel prints on the console in between. The guest needs
/// `sysrq_always_enabled` on its command line; `restore_loglevel` is the console level the
/// guest had before (0–9), so it is left as it was.
pub fn guest_memory(vm: &Vm, restore_loglevel: u8, timeout: Duration) -> Result<GuestMemory> {
    if restore_loglevel > 9 {
        bail!("console log level {restore_loglevel}: SysRq sets only 0–9");
    }
    let mark = vm.console_mark();
    sysrq(vm, &DEFAULT_CONSOLE_LOGLEVEL.to_string())?;
    let raised = vm
        .wait_for_console_from(mark, "Loglevel set to", timeout)
        .context(
            "the kernel did not answer SysRq-7 (is `sysrq_always_enabled` on its command line?)",
        )?;
    sysrq(vm, "m")?;
    let start = vm
        .wait_for_console_from(raised.end, "sysrq: Show Memory", timeout)
        .context("the kernel did not answer SysRq-M")?;
    let end = vm
        .wait_for_console_from(start.end, LAST_LINE, timeout)
        .context("the SysRq-M report did not end")?;
    if restore_loglevel != DEFAULT_CONSOLE_LOGLEVEL {
        sysrq(vm, &restore_loglevel.to_string())?;
        vm.wait_for_console_from(end.end, "Loglevel set to", timeout)
            .context("the kernel did not answer the SysRq that puts the log level back")?;
    }
    let text = vm.console_log();
    // The cleaned text is shorter than the raw bytes: find the report in it again.
    let at = text
        .rfind("sysrq: Show Memory")
        .context("the SysRq-M report vanished from the console log")?;
    let report = &text[at..];
    let report = match report.find(LAST_LINE) {
        Some(end) => &report[..end + LAST_LINE.len()],
        None => report,
    };
    parse_show_mem(report)
}

/// Presses Alt-SysRq-`key` on the guest's PS/2 keyboard.
fn sysrq(vm: &Vm, key: &str) -> Result<()> {
    let command = format!("sendkey alt-sysrq-{key}");
    let answer = vm.monitor(&command)?;
    if !answer.trim().is_empty() {
        bail!("{command}: {answer}");
    }
    Ok(())
}

/// `key:value` pairs on a line (values with a `kB` suffix or none), as `show_mem()` prints.
fn pairs(line: &str) -> impl Iterator<Item = (&str, u64)> {
    line.split_whitespace().filter_map(|w| {
        let (k, v) = w.split_once(':')?;
        let v = v.strip_suffix("kB").unwrap_or(v);
        Some((k, v.parse().ok()?))
    })
}

#[derive(Default)]
struct Zone {
    free: u64,
    low: u64,
    high: u64,
    managed: u64,
    max_reserve_pages: u64,
}

/// Parses a `show_mem()` report (from `sysrq: Show Memory` to `pages reserved`; console
/// timestamps are ignored) into `/proc/meminfo`'s figures.
pub fn parse_show_mem(report: &str) -> Result<GuestMemory> {
    let mut global = std::collections::HashMap::new();
    let mut zones: Vec<Zone> = Vec::new();
    let mut in_mem_info = false;
    for raw in report.lines() {
        // Drop a `[   28.246326] ` console timestamp.
        let line = match raw.trim_start().strip_prefix('[') {
            Some(rest) => rest.split_once(']').map_or(raw, |(_, l)| l),
            None => raw,
        }
        .trim();
        if line.starts_with("Mem-Info:") {
            in_mem_info = true;
            continue;
        }
        if line.starts_with("Node ") {
            in_mem_info = false;
            let words: Vec<&str> = line.split_whitespace().collect();
            // `Node 0 DMA32 free:…kB … managed:…kB` (the per-node line has no `managed:`).
            if words.len() > 3 && line.contains(" managed:") && line.contains(" low:") {
                let mut z = Zone::default();
                for (k, v) in pairs(line) {
                    match k {
                        "free" => z.free = v,
                        "low" => z.low = v,
                        "high" => z.high = v,
                        "managed" => z.managed = v,
                        _ => {}
                    }
                }
                zones.push(z);
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("lowmem_reserve[]:") {
            let max = rest
                .split_whitespace()
                .filter_map(|v| v.parse::<u64>().ok())
                .max()
                .unwrap_or(0);
            if let Some(z) = zones.last_mut() {
                z.max_reserve_pages = max;
            }
            continue;
        }
        if in_mem_info {
            for (k, v) in pairs(line) {
                global.insert(k.to_string(), v);
            }
        }
    }
    if zones.is_empty() {
        bail!("no zone lines (`Node 0 DMA32 free:… managed:…`) in the SysRq-M report");
    }
    let page = |k: &str| -> Result<u64> {
        global
            .get(k)
            .copied()
            .with_context(|| format!("no `{k}:` in the SysRq-M report's Mem-Info"))
    };
    let free_pages = page("free")?;
    let total_kib: u64 = zones.iter().map(|z| z.managed).sum();
    // totalreserve_pages: per zone, its largest lowmem_reserve plus its high watermark,
    // at most its managed pages (mm/page_alloc.c, calculate_totalreserve_pages()).
    let reserve_pages: u64 = zones
        .iter()
        .map(|z| (z.max_reserve_pages + z.high / PAGE_KIB).min(z.managed / PAGE_KIB))
        .sum();
    let wmark_low: u64 = zones.iter().map(|z| z.low / PAGE_KIB).sum();
    // si_mem_available() (mm/page_alloc.c, 6.1).
    let mut available = free_pages as i64 - reserve_pages as i64;
    let pagecache = page("active_file")? + page("inactive_file")?;
    available += (pagecache - (pagecache / 2).min(wmark_low)) as i64;
    let reclaimable =
        page("slab_reclaimable")? + global.get("kernel_misc_reclaimable").copied().unwrap_or(0);
    available += (reclaimable - (reclaimable / 2).min(wmark_low)) as i64;
    let available_kib = available.max(0) as u64 * PAGE_KIB;
    Ok(GuestMemory {
        total_kib,
        free_kib: free_pages * PAGE_KIB,
        available_kib,
        reserve_kib: reserve_pages * PAGE_KIB,
        unevictable_kib: page("unevictable")? * PAGE_KIB,
        anon_kib: (page("active_anon")? + page("inactive_anon")?) * PAGE_KIB,
        slab_kib: (page("slab_reclaimable")? + page("slab_unreclaimable")?) * PAGE_KIB,
    })
}

/// `MemTotal − MemAvailable` from a `/proc/meminfo` text, in KiB (to check the above
/// against a guest that has a shell).
pub fn meminfo_in_use_kib(meminfo: &str) -> Option<u64> {
    let field = |name: &str| {
        meminfo.lines().find_map(|l| {
            let rest = l.strip_prefix(name)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse::<u64>().ok()
        })
    };
    Some(field("MemTotal")?.saturating_sub(field("MemAvailable")?))
}

/// The console log level (the first number) from a text that starts with
/// `/proc/sys/kernel/printk` (`1\t4\t1\t7`).
pub fn printk_console_loglevel(text: &str) -> Option<u8> {
    let first = text.lines().next()?;
    let fields: Vec<&str> = first.split_whitespace().collect();
    if fields.len() != 4 {
        return None;
    }
    fields[0].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Debian 6.1 cloud kernel, 2 GiB q35 guest, Debian's initramfs waiting for a passphrase.
    const REPORT: &str = "\
[   28.245903] sysrq: Show Memory
[   28.246135] Mem-Info:
[   28.246326] active_anon:4 inactive_anon:387 isolated_anon:0
[   28.246326]  active_file:0 inactive_file:0 isolated_file:0
[   28.246326]  unevictable:4757 dirty:0 writeback:0
[   28.246326]  slab_reclaimable:2621 slab_unreclaimable:1811
[   28.246326]  mapped:1151 shmem:18 pagetables:42
[   28.246326]  sec_pagetables:0 bounce:0
[   28.246326]  kernel_misc_reclaimable:0
[   28.246326]  free:488475 free_pcp:5439 free_cma:0
[   28.246979] Node 0 active_anon:16kB inactive_anon:1548kB active_file:0kB inactive_file:0kB unevictable:19028kB isolated(anon):0kB isolated(file):0kB mapped:4604kB dirty:0kB writeback:0kB shmem:72kB shmem_thp: 0kB shmem_pmdmapped: 0kB anon_thp: 0kB writeback_tmp:0kB kernel_stack:800kB pagetables:168kB sec_pagetables:0kB all_unreclaimable? no
[   28.247428] Node 0 DMA free:15104kB boost:0kB min:344kB low:428kB high:512kB reserved_highatomic:0KB active_anon:0kB inactive_anon:0kB active_file:0kB inactive_file:0kB unevictable:0kB writepending:0kB present:15992kB managed:15360kB mlocked:0kB bounce:0kB free_pcp:0kB local_pcp:0kB free_cma:0kB
[   28.247823] lowmem_reserve[]: 0 1948 1948 1948 1948
[   28.247923] Node 0 DMA32 free:1938796kB boost:0kB min:44708kB low:55884kB high:67060kB reserved_highatomic:0KB active_anon:16kB inactive_anon:1548kB active_file:0kB inactive_file:0kB unevictable:19028kB writepending:0kB present:2080640kB managed:2010908kB mlocked:0kB bounce:0kB free_pcp:21756kB local_pcp:21756kB free_cma:0kB
[   28.248318] lowmem_reserve[]: 0 0 0 0 0
[   28.248434] Node 0 DMA: 0*4kB 0*8kB 0*16kB 0*32kB 0*64kB 0*128kB 1*256kB (U) 1*512kB (U) 0*1024kB 1*2048kB (M) 3*4096kB (M) = 15104kB
[   28.249289] 4775 total pagecache pages
[   28.249356] 0 pages in swap cache
[   28.249518] 524158 pages RAM
[   28.249560] 0 pages HighMem/MovableOnly
[   28.249614] 17591 pages reserved
";

    #[test]
    fn computes_meminfo_from_show_mem() {
        let m = parse_show_mem(REPORT).unwrap();
        // 524158 pages RAM − 17591 reserved = 506567 pages.
        assert_eq!(m.total_kib, 506_567 * 4);
        assert_eq!(m.free_kib, 488_475 * 4);
        // reserve: DMA 1948 + 128 pages, DMA32 16765 pages.
        assert_eq!(m.reserve_kib, (2076 + 16765) * 4);
        // free − reserve + slab_reclaimable − min(half, wmark_low) = 469634 + 1311 pages.
        assert_eq!(m.available_kib, 470_945 * 4);
        assert_eq!(m.in_use_kib(), 142_488);
        assert_eq!(m.unevictable_kib, 19_028);
    }

    #[test]
    fn refuses_a_report_without_zones() {
        assert!(parse_show_mem("sysrq: Show Memory\nMem-Info:\n free:1\n").is_err());
    }

    #[test]
    fn reads_the_console_loglevel() {
        assert_eq!(
            printk_console_loglevel("1\t4\t1\t7\nMemTotal: 1 kB\n"),
            Some(1)
        );
        assert_eq!(printk_console_loglevel("7 4 1 7"), Some(7));
        assert_eq!(printk_console_loglevel(""), None);
        assert_eq!(printk_console_loglevel("MemTotal: 1 kB\n"), None);
        assert_eq!(printk_console_loglevel("x 4 1 7\n"), None);
    }

    #[test]
    fn reads_proc_meminfo() {
        let t = "MemTotal:        2026268 kB\nMemFree:         1953900 kB\nMemAvailable:    1883780 kB\n";
        assert_eq!(meminfo_in_use_kib(t), Some(142_488));
        assert_eq!(meminfo_in_use_kib("MemTotal: 1 kB\n"), None);
    }
}
