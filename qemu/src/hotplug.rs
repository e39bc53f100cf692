//! A network card plugged in while the guest runs: QEMU starts with the card's backend
//! (user networking, the guest's port 22 forwarded to a free loopback port) and an empty
//! PCIe root port, and the test plugs the virtio-net card in through the monitor, as
//! [`DiskBus::Unplugged`](crate::DiskBus::Unplugged) does for disks.

use anyhow::Result;

use crate::ports::free_loopback_port;

/// A virtio-net card not plugged in yet. Add [`LateNic::extra_args`] to
/// [`VmConfig::extra_args`](crate::VmConfig::extra_args), then run
/// [`LateNic::device_add_command`] through [`Vm::monitor`](crate::Vm::monitor).
#[derive(Clone, Debug)]
pub struct LateNic {
    /// The device id (`device_del <id>`); the backend is `netdev-<id>`, the port `hp-<id>`.
    pub id: String,
    /// The host port on 127.0.0.1 forwarded to the guest's port 22.
    pub ssh_port: u16,
    pub mac: String,
    /// The PCIe chassis number of the port (unique among the VM's root ports).
    pub chassis: u32,
}

impl LateNic {
    /// A card `id` with a free forwarded port; `chassis` must differ from the disks' (they
    /// use 1, 2, … in order), so pick a high one.
    pub fn new(id: &str, mac: &str, chassis: u32) -> Result<LateNic> {
        Ok(LateNic {
            id: id.to_string(),
            ssh_port: free_loopback_port()?,
            mac: mac.to_string(),
            chassis,
        })
    }

    /// The backend and the empty root port, for QEMU's command line.
    pub fn extra_args(&self) -> Vec<String> {
        vec![
            "-netdev".into(),
            format!(
                "user,id=netdev-{},restrict=on,hostfwd=tcp:127.0.0.1:{}-:22",
                self.id, self.ssh_port
            ),
            "-device".into(),
            format!(
                "pcie-root-port,id=hp-{},bus=pcie.0,chassis={}",
                self.id, self.chassis
            ),
        ]
    }

    /// The HMP command that plugs the card in.
    pub fn device_add_command(&self) -> String {
        format!(
            "device_add virtio-net-pci,netdev=netdev-{id},id={id},bus=hp-{id},mac={mac}",
            id = self.id,
            mac = self.mac
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_and_command() {
        let n = LateNic {
            id: "late".into(),
            ssh_port: 2200,
            mac: "52:54:00:00:00:07".into(),
            chassis: 20,
        };
        let a = n.extra_args().join(" ");
        assert!(
            a.contains("user,id=netdev-late,restrict=on,hostfwd=tcp:127.0.0.1:2200-:22"),
            "{a}"
        );
        assert!(
            a.contains("pcie-root-port,id=hp-late,bus=pcie.0,chassis=20"),
            "{a}"
        );
        assert_eq!(
            n.device_add_command(),
            "device_add virtio-net-pci,netdev=netdev-late,id=late,bus=hp-late,mac=52:54:00:00:00:07"
        );
    }
}
