//! sesame-storage owns the block devices: what each one holds ([`probe`]: filesystem,
//! LUKS and RAID/LVM signatures), partition tables and identities ([`partition`]),
//! which devices exist now ([`scan`]), waiting for the one a `DeviceSpec` names
//! ([`wait`]), and what sesame leaves behind of them for the real system: the udev
//! database records of the device-mapper devices it made ([`udev_db`]) and `/dev/mapper`
//! links as udev makes them ([`mapper_nodes`]). It knows nothing of the network or SSH.

pub mod lvm;
pub mod mapper_nodes;
pub mod partition;
pub mod probe;
pub mod scan;
pub mod udev_db;
pub mod wait;
