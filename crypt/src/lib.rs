//! sesame-crypt owns the LUKS side of the boot: which volumes to open (from `rd.luks.*`
//! and a crypttab), device specifications such as `UUID=…`, probing and opening LUKS
//! devices through libcryptsetup, key files, the unlock broker that takes passphrases
//! from every source (one passphrase for many volumes), the keyring hand-on, and the
//! hygiene of secrets. It knows nothing of the network or SSH.

pub mod broker;
pub mod cipher;
pub mod crypttab;
pub mod device;
pub mod identity;
pub mod kdf_memory;
pub mod keyfile;
pub mod keyring;
pub mod luks;
pub mod open;
pub mod secret;
pub mod select;
pub mod spec;

pub use broker::{Broker, SubmitOutcome, VolumeState, VolumeStatus};
pub use crypttab::{CrypttabEntry, KeySource};
pub use device::DeviceSpec;
pub use identity::DeviceIdentity;
pub use keyfile::{KeyfileReader, MountingKeyfileReader};
pub use keyring::hand_on_to_keyring;
pub use open::{CryptsetupOpener, OpenError, Opener};
pub use secret::Passphrase;
pub use select::{select_volumes, Origin, Selection, Volume};
pub use spec::{KeySpec, LuksCmdline, SpecError, VolumeOptions};
