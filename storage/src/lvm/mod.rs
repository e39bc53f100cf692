//! LVM2, read natively: the PV label and metadata areas on disk ([`label`]) and the
//! metadata text ([`text`]), what a VG holds and how its LVs map ([`vg`]).

pub mod label;
pub mod text;
pub mod vg;
