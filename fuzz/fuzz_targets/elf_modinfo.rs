//! Fuzzes the ELF readers the builder runs on module files and binaries.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sesame::image::elf::modinfo(data);
    let _ = sesame::image::elf::needs_interpreter(data);
});
