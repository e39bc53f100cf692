//! Block devices: what each one holds (probe), partition identities (partition), and
//! finding the device a `DeviceSpec` names as devices appear.

pub mod partition;
pub mod probe;
