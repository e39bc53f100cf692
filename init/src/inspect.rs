//! Looking inside images on the host: `sesame ls IMAGE` (every entry with mode and size),
//! `sesame cat IMAGE PATH` (one file's bytes), `sesame diff A B` (files added, removed or
//! changed, size totals, modules, and the config), without unpacking anything.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::image::cpio::{decompress, read_newc, Archive, Entry, Kind};

/// Reads and unpacks an image file (zstd, gzip or plain newc).
pub fn open(path: &Path) -> Result<Archive> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let raw = decompress(&bytes).with_context(|| format!("decompressing {}", path.display()))?;
    read_newc(&raw).with_context(|| format!("{} is not a newc initramfs", path.display()))
}

/// `drwxr-xr-x      0 dev` style lines, as `cpio -tv` would, sorted by path.
pub fn ls(archive: &Archive) -> String {
    archive
        .entries()
        .map(|e| format!("{}\n", describe(e)))
        .collect()
}

fn describe(e: &Entry) -> String {
    let (kind, size, tail) = match &e.kind {
        Kind::Dir => ('d', 0, String::new()),
        Kind::File(d) => ('-', d.len(), String::new()),
        Kind::Symlink(t) => ('l', t.len(), format!(" -> {t}")),
        Kind::CharDev { major, minor } => ('c', 0, format!(" ({major},{minor})")),
    };
    format!("{kind}{} {size:>10} {}{tail}", mode_string(e.perm), e.path)
}

fn mode_string(perm: u32) -> String {
    let bits = [
        (0o400, 'r'),
        (0o200, 'w'),
        (0o100, 'x'),
        (0o40, 'r'),
        (0o20, 'w'),
        (0o10, 'x'),
        (0o4, 'r'),
        (0o2, 'w'),
        (0o1, 'x'),
    ];
    bits.iter()
        .map(|(b, c)| if perm & b != 0 { *c } else { '-' })
        .collect()
}

/// The bytes of `path` in the image.
pub fn cat(archive: &Archive, path: &str) -> Result<Vec<u8>> {
    match archive.get(path).map(|e| &e.kind) {
        Some(Kind::File(d)) => Ok(d.clone()),
        Some(Kind::Symlink(t)) => Ok(format!("{t}\n").into_bytes()),
        Some(_) => bail!("{path} is not a file in the image"),
        None => bail!("{path} is not in the image (see `sesame ls`)"),
    }
}

/// A readable comparison of two images.
pub fn diff(a: &Archive, b: &Archive) -> String {
    let files = |x: &Archive| -> BTreeMap<String, Entry> {
        x.entries().map(|e| (e.path.clone(), e.clone())).collect()
    };
    let (fa, fb) = (files(a), files(b));
    let mut out = String::new();
    for (p, e) in &fb {
        match fa.get(p) {
            None => out.push_str(&format!("+ {}\n", describe(e))),
            Some(old) if old != e => out.push_str(&format!(
                "~ {} ({} -> {} bytes)\n",
                p,
                size_of(old),
                size_of(e)
            )),
            _ => {}
        }
    }
    for (p, e) in &fa {
        if !fb.contains_key(p) {
            out.push_str(&format!("- {}\n", describe(e)));
        }
    }
    let modules = |x: &BTreeMap<String, Entry>| -> Vec<String> {
        x.keys()
            .filter(|p| p.contains(".ko"))
            .map(|p| crate::modules::index::module_name(p))
            .collect()
    };
    let (ma, mb) = (modules(&fa), modules(&fb));
    let added: Vec<&String> = mb.iter().filter(|m| !ma.contains(m)).collect();
    let removed: Vec<&String> = ma.iter().filter(|m| !mb.contains(m)).collect();
    out.push_str(&format!(
        "files: {} -> {}; bytes: {} -> {}; modules: {} -> {}",
        a.len(),
        b.len(),
        a.payload_bytes(),
        b.payload_bytes(),
        ma.len(),
        mb.len()
    ));
    if !added.is_empty() {
        out.push_str(&format!(" (+{})", join(&added)));
    }
    if !removed.is_empty() {
        out.push_str(&format!(" (-{})", join(&removed)));
    }
    out.push('\n');
    let cfg = |x: &Archive| cat(x, crate::config::CONFIG_PATH.trim_start_matches('/')).ok();
    match (cfg(a), cfg(b)) {
        (x, y) if x == y => out.push_str("config: same\n"),
        (x, y) => {
            out.push_str("config: differs\n");
            for (sign, text) in [("-", x), ("+", y)] {
                for line in String::from_utf8_lossy(&text.unwrap_or_default()).lines() {
                    out.push_str(&format!("  {sign} {line}\n"));
                }
            }
        }
    }
    out
}

fn size_of(e: &Entry) -> usize {
    match &e.kind {
        Kind::File(d) => d.len(),
        Kind::Symlink(t) => t.len(),
        _ => 0,
    }
}

fn join(v: &[&String]) -> String {
    v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(config: &str, modules: &[&str]) -> Archive {
        let mut a = Archive::new();
        a.add_file("init", 0o755, b"\x7fELF".to_vec());
        a.add_file("etc/sesame/config.toml", 0o644, config.as_bytes().to_vec());
        a.add("sbin/modprobe", 0o777, Kind::Symlink("/init".into()));
        for m in modules {
            a.add_file(
                &format!("lib/modules/6.1/kernel/{m}.ko"),
                0o644,
                vec![0; 10],
            );
        }
        a
    }

    #[test]
    fn ls_cat_and_diff() {
        let a = image("[ssh]\nport = 22\n", &["virtio_blk", "xfs"]);
        let b = image("[ssh]\nport = 2222\n", &["virtio_blk", "btrfs"]);
        let listing = ls(&a);
        assert!(listing.contains("-rwxr-xr-x          4 init"), "{listing}");
        assert!(
            listing.contains("lrwxrwxrwx          5 sbin/modprobe -> /init"),
            "{listing}"
        );
        assert_eq!(cat(&a, "/init").unwrap(), b"\x7fELF");
        assert!(cat(&a, "nope")
            .unwrap_err()
            .to_string()
            .contains("sesame ls"));
        assert!(cat(&a, "etc").is_err());
        let d = diff(&a, &b);
        assert!(
            d.contains("+ -rw-r--r--         10 lib/modules/6.1/kernel/btrfs.ko"),
            "{d}"
        );
        assert!(
            d.contains("- -rw-r--r--         10 lib/modules/6.1/kernel/xfs.ko"),
            "{d}"
        );
        assert!(d.contains("~ etc/sesame/config.toml"), "{d}");
        assert!(d.contains("(+btrfs) (-xfs)"), "{d}");
        assert!(d.contains("  + port = 2222"), "{d}");
        assert!(diff(&a, &a).contains("config: same"));
    }

    #[test]
    fn images_are_read_compressed_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let mut raw = Vec::new();
        image("", &[]).write_newc(0, &mut raw).unwrap();
        let z = dir.path().join("img.zst");
        std::fs::write(
            &z,
            crate::image::cpio::compress(&raw, crate::image::cpio::Compression::Zstd).unwrap(),
        )
        .unwrap();
        assert_eq!(open(&z).unwrap().len(), image("", &[]).len());
        let junk = dir.path().join("junk");
        std::fs::write(&junk, b"not an image").unwrap();
        assert!(open(&junk).unwrap_err().to_string().contains("not a newc"));
    }
}
