//! The Debian kernel fetch: apt download into the cache, unpack, depmod (needs apt's
//! archive to be reachable the first time; fails loudly otherwise).

use sesame_qemu::{debian_kernel, require_tools};

#[test]
fn debian_kernel_is_cached_with_modules_dep() {
    require_tools(&["apt-get", "apt-cache", "dpkg-deb", "depmod"]).unwrap();
    let k = debian_kernel().unwrap();
    assert!(k.vmlinuz.is_file(), "{k:?}");
    assert!(k.modules_dir.join("modules.dep").is_file(), "{k:?}");
    assert!(k
        .modules_dir
        .ends_with(format!("lib/modules/{}", k.version)));
    let dep = std::fs::read_to_string(k.modules_dir.join("modules.dep")).unwrap();
    assert!(
        dep.contains("virtio_net.ko"),
        "virtio_net missing from modules.dep"
    );
    // A second call is answered from the cache (and from memory).
    assert_eq!(debian_kernel().unwrap(), k);
}
