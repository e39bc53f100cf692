//! LUKS probing and opening through libcryptsetup (to be written).
