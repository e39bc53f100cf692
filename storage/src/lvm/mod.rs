//! LVM2, read natively: the PV label and metadata areas on disk ([`label`]), one PV's
//! newest metadata ([`pv`]), the metadata text ([`text`]), what a VG holds and how its
//! LVs map ([`vg`]). Activation (device-mapper tables loaded for the LVs) comes next.

pub mod label;
pub mod pv;
pub mod text;
pub mod vg;
