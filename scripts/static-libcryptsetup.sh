#!/usr/bin/env bash
# Builds static libcryptsetup.a + libdevmapper.a from Debian's source packages into a
# private prefix, so that `cargo xtask build` can link a fully static /init.
#
# Debian ships neither archive. Recipe verified in shared/notes/static-libcryptsetup.md.
# The host's apt configuration is not changed: the deb-src list lives in $WORK/apt.
#
# Usage: WORK=<cache dir> scripts/static-libcryptsetup.sh
# Result: $WORK/prefix/{lib/libcryptsetup.a,lib/libdevmapper.a,lib/pkgconfig/*.pc}
#         and $WORK/prefix/.stamp holding the hash of this script.
set -euo pipefail

WORK=${WORK:?set WORK to a cache directory}
PREFIX=$WORK/prefix
JOBS=${JOBS:-$(nproc)}
# gcrypt: ~2.4 MB smaller binary than openssl. nettle/kernel backends need AF_ALG: unusable.
CRYPTO=gcrypt
CRYPTSETUP_DIR=cryptsetup-2.6.1
LVM2_DIR=lvm2-2.03.16

need_root_or_say() {
  if [ "$(id -u)" != 0 ]; then
    echo "static-libcryptsetup: missing build packages; run as root, or install them:" >&2
    echo "  sudo apt-get install -y --no-install-recommends $*" >&2
    exit 1
  fi
}

PKGS="dpkg-dev build-essential pkg-config autoconf automake libtool autopoint gettext
  libjson-c-dev uuid-dev libpopt-dev libclang-dev clang libgcrypt20-dev libgpg-error-dev"
missing=$(dpkg-query -W -f='${Package} ${Status}\n' $PKGS 2>/dev/null | grep -v ' installed$' | cut -d' ' -f1 || true)
for p in $PKGS; do dpkg-query -W "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$(echo $missing)" ]; then
  need_root_or_say $missing
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
fi

# A private apt configuration with deb-src entries for the host's own suite, so that
# `apt-get source` works without editing /etc/apt.
mkdir -p "$WORK/apt/lists/partial" "$WORK/src"
. /etc/os-release
SUITE=${VERSION_CODENAME:-bookworm}
cat > "$WORK/apt/sources.list" <<SRC
deb-src http://deb.debian.org/debian $SUITE main
deb-src http://deb.debian.org/debian $SUITE-updates main
deb-src http://deb.debian.org/debian-security $SUITE-security main
SRC
APT_OPTS=(-o "Dir::Etc::SourceList=$WORK/apt/sources.list" -o "Dir::Etc::SourceParts=-"
          -o "Dir::State::Lists=$WORK/apt/lists" -o "APT::Sandbox::User=root")

cd "$WORK/src"
if [ ! -d "$CRYPTSETUP_DIR" ] || [ ! -d "$LVM2_DIR" ]; then
  apt-get "${APT_OPTS[@]}" update -q >"$WORK/apt-update.log" 2>&1 \
    || { cat "$WORK/apt-update.log" >&2; echo "static-libcryptsetup: cannot reach Debian's source archive" >&2; exit 1; }
  [ -d "$CRYPTSETUP_DIR" ] || apt-get "${APT_OPTS[@]}" source -q cryptsetup >"$WORK/apt-source.log" 2>&1
  [ -d "$LVM2_DIR" ] || apt-get "${APT_OPTS[@]}" source -q lvm2 >>"$WORK/apt-source.log" 2>&1
fi
[ -d "$CRYPTSETUP_DIR" ] && [ -d "$LVM2_DIR" ] || {
  echo "static-libcryptsetup: expected $CRYPTSETUP_DIR and $LVM2_DIR from apt-get source; got: $(ls)" >&2; exit 1; }

rm -rf "$PREFIX"

# libdevmapper.a (only the libdm part of lvm2: no libaio needed)
cd "$WORK/src/$LVM2_DIR"
./configure --prefix="$PREFIX" --enable-static_link --enable-pkgconfig \
  --disable-selinux --disable-udev_sync --disable-udev_rules --disable-blkid_wiping \
  --disable-systemd-journal --disable-app-machineid --disable-readline --disable-dmeventd \
  --disable-cmdlib --disable-use-lvmlockd --disable-use-lvmpolld --disable-notify-dbus --disable-nls \
  >"$WORK/lvm2-configure.log" 2>&1 || { tail -30 "$WORK/lvm2-configure.log" >&2; exit 1; }
make -j"$JOBS" -C libdm >"$WORK/lvm2-make.log" 2>&1 || { tail -30 "$WORK/lvm2-make.log" >&2; exit 1; }
make -C libdm install >>"$WORK/lvm2-make.log" 2>&1
rm -f "$PREFIX"/lib/libdevmapper.so*

# libcryptsetup.a
cd "$WORK/src/$CRYPTSETUP_DIR"
[ -x configure ] || ./autogen.sh >"$WORK/cryptsetup-autogen.log" 2>&1
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"
CPPFLAGS="-I$PREFIX/include" LDFLAGS="-L$PREFIX/lib" \
./configure --prefix="$PREFIX" --enable-static --disable-shared \
  --with-crypto_backend="$CRYPTO" --enable-internal-sse-argon2 \
  --disable-asciidoc --disable-nls --disable-ssh-token --disable-external-tokens \
  --disable-udev --disable-selinux --disable-blkid --disable-pwquality --disable-fuzz-targets \
  --disable-cryptsetup --disable-veritysetup --disable-integritysetup \
  --with-luks2-lock-path=/run/cryptsetup \
  --with-tmpfilesdir="$PREFIX/lib/tmpfiles.d" \
  >"$WORK/cryptsetup-configure.log" 2>&1 || { tail -30 "$WORK/cryptsetup-configure.log" >&2; exit 1; }
make -j"$JOBS" >"$WORK/cryptsetup-make.log" 2>&1 || { tail -30 "$WORK/cryptsetup-make.log" >&2; exit 1; }
make install >>"$WORK/cryptsetup-make.log" 2>&1
rm -f "$PREFIX"/lib/libcryptsetup.la

test -f "$PREFIX/lib/libcryptsetup.a" && test -f "$PREFIX/lib/libdevmapper.a"
sha256sum "$0" | cut -d' ' -f1 > "$PREFIX/.stamp"
echo "static-libcryptsetup: ready in $PREFIX ($(pkg-config --static --libs libcryptsetup))"
