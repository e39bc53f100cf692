//! Fuzzes the module index parsers (modules.dep/alias/softdep/builtin) and the alias glob
//! matcher: a hostile index must not hang or crash PID 1 or `sesame modprobe`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesame::modules::glob::glob_match;
use sesame::modules::index::ModuleIndex;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut parts = text.splitn(4, '\u{1}');
    let dep = parts.next().unwrap_or("");
    let alias = parts.next().unwrap_or("");
    let softdep = parts.next().unwrap_or("");
    let query = parts.next().unwrap_or("x");
    let index = ModuleIndex::parse(dep, alias, softdep, "");
    for m in index.resolve(query) {
        let order = index.load_order(&m);
        assert!(order.len() <= index.modules.len());
    }
    let _ = glob_match(alias, query);
});
