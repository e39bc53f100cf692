//! sesame-storage owns what sesame leaves behind of the block devices for the real
//! system: the udev database records of the device-mapper devices it made
//! ([`udev_db`]), so that the real root's udev rules treat them as devices properly
//! activated in the initramfs, and `/dev/mapper` links as udev makes them
//! ([`mapper_nodes`]).

pub mod mapper_nodes;
pub mod udev_db;
