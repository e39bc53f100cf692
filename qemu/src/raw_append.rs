//! A kernel command line that is not UTF-8: [`VmConfig::append_raw`] goes to QEMU's
//! `-append` byte for byte (the kernel copies it as bytes; `/proc/cmdline` shows them),
//! so a test can feed the init binary junk the way a broken boot loader entry would.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;

use crate::config::VmConfig;

impl VmConfig {
    /// QEMU's arguments as passed to it: [`VmConfig::args`] with the raw bytes added to
    /// the `-append` value.
    pub(crate) fn os_args(&self, qmp: &Path, ssh_port: Option<u16>) -> Vec<OsString> {
        let mut args: Vec<OsString> = self
            .args(qmp, ssh_port)
            .into_iter()
            .map(OsString::from)
            .collect();
        if let Some(value) = self.append_index(&args) {
            let mut bytes = std::mem::take(&mut args[value]).into_vec();
            bytes.push(b' ');
            bytes.extend_from_slice(&self.append_raw);
            args[value] = OsString::from_vec(bytes);
        }
        args
    }

    /// The same for showing (qemu-args.txt, error messages): the raw bytes lossily.
    pub(crate) fn shown_args(&self, qmp: &Path, ssh_port: Option<u16>) -> Vec<String> {
        self.os_args(qmp, ssh_port)
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    /// Where the `-append` value is, when there are raw bytes to add.
    fn append_index(&self, args: &[OsString]) -> Option<usize> {
        if self.append_raw.is_empty() {
            return None;
        }
        args.iter().position(|a| a == "-append").map(|i| i + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::Kernel;

    #[test]
    fn raw_bytes_reach_the_append_value() {
        let k = Kernel {
            version: "v".into(),
            vmlinuz: "/k".into(),
            modules_dir: "/m".into(),
        };
        let mut c = VmConfig::new(k, Path::new("/i"), Path::new("/w"));
        c.append = "root=x".into();
        let plain = c.os_args(Path::new("/s"), None);
        assert!(plain.contains(&OsString::from("console=ttyS0 panic=-1 root=x")));
        c.append_raw = b"junk=\xff\xfe\x01".to_vec();
        let args = c.os_args(Path::new("/s"), None);
        let want = OsString::from_vec(b"console=ttyS0 panic=-1 root=x junk=\xff\xfe\x01".to_vec());
        assert!(args.contains(&want), "{args:?}");
        assert!(c
            .shown_args(Path::new("/s"), None)
            .iter()
            .any(|a| a.ends_with("junk=\u{fffd}\u{fffd}\u{1}")));
    }
}
