//! Inserting modules into the running kernel: `finit_module` on the file (the kernel
//! decompresses `.ko.xz`/`.ko.zst` itself where it can, else we do and `init_module`),
//! dependencies first, each module once, with parameters and blacklist from the kernel
//! command line as modprobe honours them (`mod.param=value`, `modprobe.blacklist=`).

use std::collections::{BTreeMap, HashSet};
use std::ffi::CString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::errno::Errno;
use nix::kmod::{finit_module, init_module, ModuleInitFlags};

use super::index::{normalize, ModuleIndex};

/// `MODULE_INIT_COMPRESSED_FILE` (Linux 6.4+): the kernel decompresses the file itself.
const MODULE_INIT_COMPRESSED_FILE: u32 = 4;

/// Why a module did not load. Carries the module and the kernel's answer.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("no module or alias named `{0}` in this image")]
    Unknown(String),
    #[error("module {module} is blacklisted on the kernel command line")]
    Blacklisted { module: String },
    #[error("module {module} ({path}): {reason}")]
    Insert {
        module: String,
        path: String,
        reason: String,
    },
}

/// Loads modules from one modules directory; safe to share between threads.
pub struct Loader {
    dir: PathBuf,
    index: ModuleIndex,
    options: BTreeMap<String, Vec<String>>,
    blacklist: HashSet<String>,
    /// Modules in the kernel (loaded by us or before us). Held while inserting, so two
    /// threads never race on the same module.
    loaded: Mutex<HashSet<String>>,
}

impl Loader {
    /// A loader for `dir` (`/lib/modules/<version>`). `cmdline_words` are the kernel
    /// command line's `key[=value]` words, for module parameters and blacklists.
    pub fn new(dir: &Path, index: ModuleIndex, cmdline_words: &[(String, Option<String>)]) -> Self {
        let (options, blacklist) = cmdline_module_options(cmdline_words, &index);
        let loaded = std::fs::read_to_string("/proc/modules")
            .map(|s| parse_proc_modules(&s))
            .unwrap_or_default();
        Loader {
            dir: dir.to_path_buf(),
            index,
            options,
            blacklist,
            loaded: Mutex::new(loaded),
        }
    }

    pub fn index(&self) -> &ModuleIndex {
        &self.index
    }

    /// Loads a module by name or alias with everything it needs. Returns the modules
    /// newly inserted (empty when all were there already or built in).
    pub fn load(&self, name: &str) -> Result<Vec<String>, LoadError> {
        let targets = self.index.resolve(name);
        if targets.is_empty() {
            return Err(LoadError::Unknown(name.to_string()));
        }
        let mut inserted = Vec::new();
        let mut first_error = None;
        for target in targets {
            if self.blacklist.contains(&target) {
                first_error.get_or_insert(LoadError::Blacklisted { module: target });
                continue;
            }
            match self.load_module(&target) {
                Ok(mut v) => inserted.append(&mut v),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            // An alias matching several modules succeeds when any of them loaded.
            Some(e) if inserted.is_empty() => Err(e),
            _ => Ok(inserted),
        }
    }

    fn load_module(&self, module: &str) -> Result<Vec<String>, LoadError> {
        let Ok(mut loaded) = self.loaded.lock() else {
            return Ok(Vec::new());
        };
        let mut inserted = Vec::new();
        for m in self.index.load_order(module) {
            if loaded.contains(&m) || self.blacklist.contains(&m) {
                continue;
            }
            let Some(rel) = self.index.path_of(&m) else {
                continue;
            };
            let path = self.dir.join(&rel);
            let params = self
                .options
                .get(&m)
                .map(|p| p.join(" "))
                .unwrap_or_default();
            match insert(&path, &params) {
                Ok(()) => {
                    inserted.push(m.clone());
                    loaded.insert(m);
                }
                Err(Errno::EEXIST) => {
                    loaded.insert(m);
                }
                Err(e) => {
                    // A soft dependency or a dependency that fails must not hide the
                    // module's own error; report the first failure.
                    return Err(LoadError::Insert {
                        module: m,
                        path: rel.display().to_string(),
                        reason: describe(e),
                    });
                }
            }
        }
        Ok(inserted)
    }
}

fn describe(e: Errno) -> String {
    match e {
        Errno::ENODEV => "no such device (the hardware it drives is absent)".into(),
        Errno::ENOEXEC => "invalid module format (built for another kernel?)".into(),
        Errno::ENOENT => "unknown symbol or file missing (see dmesg)".into(),
        Errno::EPERM => "operation not permitted (module signature or lockdown?)".into(),
        other => other.desc().to_string(),
    }
}

/// Inserts one module file.
fn insert(path: &Path, params: &str) -> Result<(), Errno> {
    let params = CString::new(params).map_err(|_| Errno::EINVAL)?;
    let file = std::fs::File::open(path)
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(nix::libc::ENOENT)))?;
    let compressed = compression_of(path);
    if compressed.is_none() {
        return finit_module(&file, &params, ModuleInitFlags::empty());
    }
    match finit_module(
        &file,
        &params,
        ModuleInitFlags::from_bits_retain(MODULE_INIT_COMPRESSED_FILE),
    ) {
        // Older kernels (or no CONFIG_MODULE_DECOMPRESS): decompress here.
        Err(Errno::EINVAL) | Err(Errno::ENOSYS) | Err(Errno::EOPNOTSUPP) => {}
        other => return other,
    }
    let image = decompress(path).map_err(|_| Errno::ENOEXEC)?;
    init_module(&image, &params)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Xz,
    Zstd,
    Gzip,
}

pub fn compression_of(path: &Path) -> Option<Compression> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("xz") => Some(Compression::Xz),
        Some("zst") => Some(Compression::Zstd),
        Some("gz") => Some(Compression::Gzip),
        _ => None,
    }
}

/// Reads a module file, decompressing `.ko.xz`, `.ko.zst` and `.ko.gz`.
pub fn decompress(path: &Path) -> std::io::Result<Vec<u8>> {
    let raw = std::fs::read(path)?;
    decompress_bytes(&raw, compression_of(path))
}

pub fn decompress_bytes(raw: &[u8], how: Option<Compression>) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    match how {
        None => out.extend_from_slice(raw),
        Some(Compression::Xz) => {
            lzma_rs::xz_decompress(&mut std::io::Cursor::new(raw), &mut out)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?
        }
        Some(Compression::Zstd) => out = zstd::stream::decode_all(raw)?,
        Some(Compression::Gzip) => {
            flate2::read::GzDecoder::new(raw).read_to_end(&mut out)?;
        }
    }
    Ok(out)
}

/// Names of the modules in `/proc/modules`.
pub fn parse_proc_modules(text: &str) -> HashSet<String> {
    text.lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(normalize)
        .collect()
}

/// Module parameters (`virtio_net.napi_tx=1`) and `modprobe.blacklist=a,b` from the
/// kernel command line, as modprobe reads them. Only words whose prefix names a module
/// of the index count, so `rd.luks.uuid=` is never mistaken for a parameter.
pub fn cmdline_module_options(
    words: &[(String, Option<String>)],
    index: &ModuleIndex,
) -> (BTreeMap<String, Vec<String>>, HashSet<String>) {
    let mut options: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut blacklist = HashSet::new();
    for (key, value) in words {
        if key == "modprobe.blacklist" || key == "module_blacklist" {
            for m in value.as_deref().unwrap_or("").split(',') {
                if !m.trim().is_empty() {
                    blacklist.insert(normalize(m.trim()));
                }
            }
            continue;
        }
        let Some((module, param)) = key.split_once('.') else {
            continue;
        };
        let module = normalize(module);
        if param.is_empty() || !index.modules.contains_key(&module) {
            continue;
        }
        let opt = match value {
            Some(v) if v.contains(char::is_whitespace) => format!("{param}=\"{v}\""),
            Some(v) => format!("{param}={v}"),
            None => param.to_string(),
        };
        options.entry(module).or_default().push(opt);
    }
    (options, blacklist)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(k: &str, v: Option<&str>) -> (String, Option<String>) {
        (k.to_string(), v.map(str::to_string))
    }

    #[test]
    fn options_and_blacklist_from_the_command_line() {
        let idx = ModuleIndex::parse(
            "kernel/e1000e.ko:\nkernel/virtio_net.ko:\nkernel/dm-mod.ko:\n",
            "",
            "",
            "",
        );
        let words = vec![
            w("e1000e.InterruptThrottleRate", Some("3000")),
            w("virtio-net.napi_tx", None),
            w("dm_mod.dm_mq_nr_hw_queues", Some("a b")),
            w("rd.luks.uuid", Some("x")),
            w("modprobe.blacklist", Some("floppy, pcspkr,,")),
            w("e1000e.", Some("1")),
        ];
        let (opts, bl) = cmdline_module_options(&words, &idx);
        assert_eq!(opts["e1000e"], vec!["InterruptThrottleRate=3000"]);
        assert_eq!(opts["virtio_net"], vec!["napi_tx"]);
        assert_eq!(opts["dm_mod"], vec!["dm_mq_nr_hw_queues=\"a b\""]);
        assert!(!opts.contains_key("rd"));
        assert_eq!(opts.len(), 3);
        assert!(bl.contains("floppy") && bl.contains("pcspkr") && bl.len() == 2);
    }

    #[test]
    fn proc_modules_names() {
        let text = "dm_crypt 61440 0 - Live 0x0\nvirtio_net 69632 0 - Live 0x0\n";
        let names = parse_proc_modules(text);
        assert!(names.contains("dm_crypt") && names.contains("virtio_net"));
    }

    #[test]
    fn compressed_modules_decompress() {
        let data = b"\x7fELF fake module body".repeat(50);
        let z = zstd::stream::encode_all(&data[..], 3).unwrap();
        assert_eq!(decompress_bytes(&z, Some(Compression::Zstd)).unwrap(), data);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, &data).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(
            decompress_bytes(&gz, Some(Compression::Gzip)).unwrap(),
            data
        );
        let mut xz = Vec::new();
        lzma_rs::xz_compress(&mut std::io::Cursor::new(&data), &mut xz).unwrap();
        assert_eq!(decompress_bytes(&xz, Some(Compression::Xz)).unwrap(), data);
        assert!(decompress_bytes(b"garbage", Some(Compression::Xz)).is_err());
        assert_eq!(compression_of(Path::new("a.ko.xz")), Some(Compression::Xz));
        assert_eq!(compression_of(Path::new("a.ko")), None);
    }
}
