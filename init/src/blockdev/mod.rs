//! Block devices: what each one holds (probe), partition identities (partition), which
//! exist now (scan), and waiting for the device a `DeviceSpec` names (wait).

pub mod partition;
pub mod probe;
pub mod scan;
pub mod wait;
