//! What a VM is made of: kernel, initramfs, command line, disks, network card, memory;
//! and the QEMU command line that says so (always TCG, q35, no defaults, no display).

use std::path::{Path, PathBuf};

use crate::kernel::Kernel;

/// How a disk is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DiskBus {
    /// `virtio-blk-pci` (the guest sees `/dev/vdX` in the order disks are listed).
    #[default]
    VirtioBlk,
    /// Only the backend (`-drive if=none`) and an empty PCIe root port `hp-<id>` (q35's
    /// root bus takes no hot-plug): no device until a test plugs one in with
    /// [`Disk::device_add_command`] through [`Vm::monitor`](crate::Vm::monitor).
    Unplugged,
}

/// A raw disk image.
#[derive(Clone, Debug)]
pub struct Disk {
    /// The device id (`device_del <id>`); the drive backend is `drive-<id>`.
    pub id: String,
    pub path: PathBuf,
    /// What the guest sees in `/sys/block/vdX/serial` (`/dev/disk/by-id/virtio-<serial>`).
    pub serial: Option<String>,
    pub bus: DiskBus,
    pub read_only: bool,
    /// Writes go to a temporary file QEMU drops at exit (`snapshot=on`): the image on
    /// disk stays as it was (a cached disk shared by tests).
    pub snapshot: bool,
}

impl Disk {
    pub fn new(id: &str, path: &Path) -> Disk {
        Disk {
            id: id.to_string(),
            path: path.to_path_buf(),
            serial: None,
            bus: DiskBus::VirtioBlk,
            read_only: false,
            snapshot: false,
        }
    }
    pub fn serial(mut self, serial: &str) -> Disk {
        self.serial = Some(serial.to_string());
        self
    }
    pub fn bus(mut self, bus: DiskBus) -> Disk {
        self.bus = bus;
        self
    }
    pub fn read_only(mut self) -> Disk {
        self.read_only = true;
        self
    }
    pub fn snapshot(mut self) -> Disk {
        self.snapshot = true;
        self
    }

    /// The HMP command that plugs this disk in as virtio-blk (for [`DiskBus::Unplugged`]).
    pub fn device_add_command(&self) -> String {
        let mut s = format!(
            "device_add virtio-blk-pci,drive=drive-{id},id={id},bus=hp-{id}",
            id = esc(&self.id)
        );
        if let Some(serial) = &self.serial {
            s.push_str(&format!(",serial={}", esc(serial)));
        }
        s
    }
}

/// The network card, virtio-net.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Nic {
    /// QEMU user networking (guest 10.0.2.15 by DHCP, gateway 10.0.2.2), isolated from the
    /// host's networks. `ssh: true` forwards a free port on 127.0.0.1 to the guest's port 22
    /// ([`Vm::ssh_port`](crate::Vm::ssh_port)).
    User { ssh: bool },
    /// An existing tap device (e.g. in a network namespace the test made; QEMU must then
    /// run inside it), with the guest MAC address `mac`.
    Tap { ifname: String, mac: String },
}

/// What to boot. [`VmConfig::new`] fills the defaults.
#[derive(Clone, Debug)]
pub struct VmConfig {
    pub kernel: Kernel,
    pub initrd: PathBuf,
    /// Kernel command line, after `console=ttyS0 panic=-1` (later words win).
    /// (`initrd` empty: no initramfs at all.)
    pub append: String,
    pub disks: Vec<Disk>,
    /// `None`: no network card at all.
    pub nic: Option<Nic>,
    pub memory_mib: u32,
    /// Appended to QEMU's command line as is.
    pub extra_args: Vec<String>,
    /// Where `console.log`, `qemu-stderr.log` and `qemu-args.txt` go (created if missing;
    /// a second VM in the same directory writes `console-2.log` and so on).
    pub work_dir: PathBuf,
    /// Let a guest reboot restart the VM instead of ending QEMU (no `-no-reboot`, and no
    /// `panic=-1`). Off by default: a reboot or a kernel panic ends QEMU at once.
    pub allow_reboot: bool,
    /// Run QEMU inside this network namespace (for `Nic::Tap` on a test's bridge).
    pub netns: Option<String>,
    /// Bytes added to the end of the kernel command line as they are, not necessarily
    /// UTF-8 (binary junk for the command-line tests); see `raw_append.rs`.
    pub append_raw: Vec<u8>,
}

impl VmConfig {
    pub fn new(kernel: Kernel, initrd: &Path, work_dir: &Path) -> VmConfig {
        VmConfig {
            kernel,
            initrd: initrd.to_path_buf(),
            append: String::new(),
            disks: Vec::new(),
            nic: None,
            memory_mib: 512,
            extra_args: Vec::new(),
            work_dir: work_dir.to_path_buf(),
            allow_reboot: false,
            netns: None,
            append_raw: Vec::new(),
        }
    }

    /// QEMU's arguments, with `qmp` the monitor socket and `ssh_port` the forward.
    pub(crate) fn args(&self, qmp: &Path, ssh_port: Option<u16>) -> Vec<String> {
        // A smaller translation cache than QEMU's 1 GiB: long boots (a real systemd) crawl
        // with the default once the guest has built millions of translated blocks
        // (see the notes on QEMU); short ones do not notice.
        let mut a: Vec<String> = [
            "-accel",
            "tcg,tb-size=256",
            "-cpu",
            "max",
            "-machine",
            "q35",
            "-nodefaults",
            "-display",
            "none",
        ]
        .map(String::from)
        .to_vec();
        if !self.allow_reboot {
            a.push("-no-reboot".into());
        }
        let panic = if self.allow_reboot { "" } else { " panic=-1" };
        let append = format!("console=ttyS0{panic} {}", self.append);
        a.extend([
            "-m".into(),
            self.memory_mib.to_string(),
            "-kernel".into(),
            self.kernel.vmlinuz.display().to_string(),
            "-append".into(),
            append.trim_end().to_string(),
            "-chardev".into(),
            "stdio,id=con0,signal=off".into(),
            "-serial".into(),
            "chardev:con0".into(),
            "-chardev".into(),
            format!(
                "socket,id=mon0,path={},server=on,wait=off",
                esc(&qmp.display().to_string())
            ),
            "-mon".into(),
            "chardev=mon0,mode=control".into(),
        ]);
        // An empty initrd path boots the kernel alone (to measure its own floor).
        if !self.initrd.as_os_str().is_empty() {
            a.extend(["-initrd".into(), self.initrd.display().to_string()]);
        }
        for (n, d) in self.disks.iter().enumerate() {
            let ro = if d.read_only { ",readonly=on" } else { "" };
            let snap = if d.snapshot { ",snapshot=on" } else { "" };
            a.push("-drive".into());
            a.push(format!(
                "file={},format=raw,if=none,id=drive-{},cache=unsafe{ro}{snap}",
                esc(&d.path.display().to_string()),
                esc(&d.id)
            ));
            if d.bus == DiskBus::VirtioBlk {
                let mut dev = format!(
                    "virtio-blk-pci,drive=drive-{},id={}",
                    esc(&d.id),
                    esc(&d.id)
                );
                if let Some(s) = &d.serial {
                    dev.push_str(&format!(",serial={}", esc(s)));
                }
                a.push("-device".into());
                a.push(dev);
            } else {
                a.push("-device".into());
                a.push(format!(
                    "pcie-root-port,id=hp-{},bus=pcie.0,chassis={}",
                    esc(&d.id),
                    n + 1
                ));
            }
        }
        match &self.nic {
            None => {}
            Some(Nic::User { .. }) => {
                let mut net = "user,id=net0,restrict=on".to_string();
                if let Some(p) = ssh_port {
                    net.push_str(&format!(",hostfwd=tcp:127.0.0.1:{p}-:22"));
                }
                a.extend(["-netdev".into(), net]);
                a.extend(["-device".into(), "virtio-net-pci,netdev=net0".into()]);
            }
            Some(Nic::Tap { ifname, mac }) => {
                a.extend([
                    "-netdev".into(),
                    format!("tap,id=net0,ifname={},script=no,downscript=no", esc(ifname)),
                ]);
                a.extend([
                    "-device".into(),
                    format!("virtio-net-pci,netdev=net0,mac={}", esc(mac)),
                ]);
            }
        }
        a.extend(self.extra_args.iter().cloned());
        a
    }
}

/// Escapes a value inside a QEMU `key=value,…` option (a comma is written twice).
fn esc(s: &str) -> String {
    s.replace(',', ",,")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> VmConfig {
        let k = Kernel {
            version: "6.1.0-1-cloud-amd64".into(),
            vmlinuz: "/k/vmlinuz".into(),
            modules_dir: "/k/lib/modules/6.1.0-1-cloud-amd64".into(),
        };
        let mut c = VmConfig::new(k, Path::new("/i/initrd.img"), Path::new("/w"));
        c.append = "root=UUID=x rd.timeout=30".into();
        c
    }

    #[test]
    fn qemu_arguments() {
        let mut c = cfg();
        c.disks
            .push(Disk::new("root", Path::new("/d/a,b.img")).serial("S1"));
        c.disks
            .push(Disk::new("late", Path::new("/d/late.img")).bus(DiskBus::Unplugged));
        c.disks
            .push(Disk::new("base", Path::new("/d/base.img")).snapshot());
        c.nic = Some(Nic::User { ssh: true });
        let a = c.args(Path::new("/s/qmp.sock"), Some(2222)).join(" ");
        for want in [
            "-accel tcg,tb-size=256 -cpu max -machine q35 -nodefaults -display none -no-reboot",
            "-m 512",
            "-append console=ttyS0 panic=-1 root=UUID=x rd.timeout=30",
            "file=/d/a,,b.img,format=raw,if=none,id=drive-root",
            "virtio-blk-pci,drive=drive-root,id=root,serial=S1",
            "hostfwd=tcp:127.0.0.1:2222-:22",
            "file=/d/base.img,format=raw,if=none,id=drive-base,cache=unsafe,snapshot=on",
            "path=/s/qmp.sock,server=on,wait=off",
        ] {
            assert!(a.contains(want), "`{want}` missing in {a}");
        }
        assert!(!a.contains("drive=drive-late"), "{a}");
        assert_eq!(
            c.disks[1].device_add_command(),
            "device_add virtio-blk-pci,drive=drive-late,id=late,bus=hp-late"
        );
        assert!(
            a.contains("pcie-root-port,id=hp-late,bus=pcie.0,chassis=2"),
            "{a}"
        );
    }

    #[test]
    fn no_nic_means_no_network_device() {
        let a = cfg().args(Path::new("/s"), None).join(" ");
        assert!(!a.contains("netdev"), "{a}");
        let mut c = cfg();
        c.allow_reboot = true;
        let a = c.args(Path::new("/s"), None).join(" ");
        assert!(!a.contains("-no-reboot") && !a.contains("panic=-1"), "{a}");
    }
}
