#!/bin/bash
# bench/debian.sh: the Debian baseline for `cargo xtask bench` — a throwaway debootstrap'd
# chroot holding initramfs-tools + cryptsetup-initramfs + dropbear-initramfs, configured for
# the bench's test disk and kernel. It never touches the host's own /boot, /etc or initramfs.
#
#   bench/debian.sh root ROOT
#       debootstraps ROOT once (a stamp file marks it complete; delete ROOT to redo it)
#   bench/debian.sh configure ROOT KERNEL_DIR VERSION AUTHORIZED_KEYS LUKS_UUID
#       copies KERNEL_DIR/lib/modules/VERSION and boot/config-VERSION into ROOT, writes
#       MODULES=list with the virtio, dm-crypt and crypto modules, COMPRESS=zstd, the
#       dropbear authorized_keys, and a crypttab naming the test disk `root`
#   bench/debian.sh build ROOT VERSION OUT
#       runs `mkinitramfs -o OUT VERSION` inside the chroot (OUT is a path inside ROOT)
#
# The mirror and suite are the host's own (apt sources, /etc/os-release); override them
# with BENCH_DEBIAN_MIRROR and BENCH_DEBIAN_SUITE.
set -euo pipefail

PACKAGES=initramfs-tools,cryptsetup-initramfs,dropbear-initramfs,busybox,zstd

die() { echo "bench/debian.sh: $*" >&2; exit 1; }

host_mirror() {
    local uri
    uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' |
        grep -v -e security -e updates | grep '/debian/*$' | head -n1 || true)
    if [ -z "$uri" ]; then
        uri=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
            awk '{print $2}' | grep '/debian/*$' | head -n1 || true)
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}

host_suite() {
    # shellcheck disable=SC1091
    . /etc/os-release
    echo "${VERSION_CODENAME:-bookworm}"
}

cmd_root() {
    local root=$1
    local stamp="$root/.sesame-bench-complete"
    local want="packages=$PACKAGES"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    [ "$(id -u)" = 0 ] || die "debootstrap and chroot need root"
    if ! command -v debootstrap >/dev/null; then
        echo "bench/debian.sh: installing debootstrap" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >&2
    fi
    local mirror=${BENCH_DEBIAN_MIRROR:-$(host_mirror)}
    local suite=${BENCH_DEBIAN_SUITE:-$(host_suite)}
    rm -rf "$root"
    mkdir -p "$(dirname "$root")"
    echo "bench/debian.sh: debootstrap --variant=minbase --include=$PACKAGES $suite $root $mirror" >&2
    # No kernel is installed in the chroot, so the packages' postinst scripts build no image.
    debootstrap --variant=minbase --include="$PACKAGES" "$suite" "$root" "$mirror" >&2
    rm -rf "$root/var/cache/apt/archives/"*.deb
    echo "$want" >"$stamp"
}

cmd_configure() {
    local root=$1 kdir=$2 version=$3 keys=$4 uuid=$5
    [ -f "$root/.sesame-bench-complete" ] || die "$root is not set up; run: $0 root $root"
    [ -d "$kdir/lib/modules/$version" ] || die "no $kdir/lib/modules/$version"
    rm -rf "$root/lib/modules/$version"
    mkdir -p "$root/lib/modules" "$root/boot"
    cp -a "$kdir/lib/modules/$version" "$root/lib/modules/"
    cp "$kdir/boot/config-$version" "$root/boot/"
    # What MODULES=list loads at boot (with their dependencies, which mkinitramfs adds):
    # the virtio devices of the q35 VM, device-mapper + dm-crypt, the LUKS2 cipher
    # (aes-xts-plain64) in its fastest form, and nothing else. ext4 is built in.
    cat >"$root/etc/initramfs-tools/modules" <<'EOF'
virtio_pci
virtio_net
virtio_blk
dm_mod
dm_crypt
xts
ecb
cryptd
crypto_simd
aesni_intel
EOF
    local conf="$root/etc/initramfs-tools/initramfs.conf"
    sed -i -e 's/^MODULES=.*/MODULES=list/' -e 's/^COMPRESS=.*/COMPRESS=zstd/' "$conf"
    grep -q '^MODULES=list$' "$conf" || die "could not set MODULES=list in $conf"
    grep -q '^COMPRESS=zstd$' "$conf" || echo 'COMPRESS=zstd' >>"$conf"
    # dropbear-initramfs (bookworm layout): its own authorized_keys, host keys made at install.
    install -d -m 0700 "$root/etc/dropbear/initramfs"
    install -m 0600 "$keys" "$root/etc/dropbear/initramfs/authorized_keys"
    # The test disk: `initramfs` makes the cryptroot hook put it in the image although the
    # chroot's own root is not on it (the source device does not exist here; that is fine).
    printf 'root UUID=%s none luks,discard,initramfs\n' "$uuid" >"$root/etc/crypttab"
    # Force cryptsetup into the image whatever the hook concludes about the chroot.
    install -d "$root/etc/cryptsetup-initramfs"
    if [ -f "$root/etc/cryptsetup-initramfs/conf-hook" ]; then
        sed -i -e 's/^#\?CRYPTSETUP=.*/CRYPTSETUP=y/' "$root/etc/cryptsetup-initramfs/conf-hook"
    fi
}

cmd_build() {
    local root=$1 version=$2 out=$3
    # /proc and /sys as mkinitramfs expects them, in a private mount namespace: they vanish
    # with it, whatever happens, and the host never sees them.
    unshare --mount --propagation private sh -ec '
        mount -t proc proc "$1/proc"
        mount -t sysfs sysfs "$1/sys"
        exec chroot "$1" /usr/sbin/mkinitramfs -o "$2" "$3"' sh "$root" "$out" "$version"
}

case "${1:-}" in
root) [ $# = 2 ] || die "usage: $0 root ROOT"; cmd_root "$2" ;;
configure) [ $# = 6 ] || die "usage: $0 configure ROOT KERNEL_DIR VERSION AUTHORIZED_KEYS LUKS_UUID"; shift; cmd_configure "$@" ;;
build) [ $# = 4 ] || die "usage: $0 build ROOT VERSION OUT"; shift; cmd_build "$@" ;;
*) die "usage: $0 root|configure|build …" ;;
esac
