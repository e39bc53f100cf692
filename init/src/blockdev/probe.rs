//! Filesystem superblock prober (to be written).
