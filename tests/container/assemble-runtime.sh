#!/usr/bin/env bash
# Assemble a distroless-like Python root filesystem from a Debian bookworm
# system that has python3.11, ca-certificates and tzdata installed.
#
# Usage: assemble-runtime.sh ROOTFS [VENV...]
# ROOTFS must not exist yet. Each VENV's extension modules are scanned with
# ldd, so that the libraries they link are copied too; the venvs themselves
# are not copied. Exits non-zero when a linked library is not found.
set -euo pipefail

rootfs=$1
shift
venvs=("$@")

if [ -e "$rootfs" ]; then
    echo "assemble-runtime: $rootfs already exists; pass a new directory" >&2
    exit 2
fi

# Merged /usr, as in Debian 12: /lib, /lib64 and /bin are links into /usr.
# The dynamic loader is looked up as /lib64/ld-linux-x86-64.so.2.
mkdir -p "$rootfs"/usr/bin "$rootfs"/usr/lib "$rootfs"/usr/lib64 "$rootfs"/etc "$rootfs"/usr/share
ln -s usr/bin "$rootfs/bin"
ln -s usr/lib "$rootfs/lib"
ln -s usr/lib64 "$rootfs/lib64"

# The interpreter and its standard library, without the parts a service never
# imports (tests, GUI, the pip bootstrapper, 2to3, pydoc's topic data).
cp -a /usr/bin/python3.11 "$rootfs/usr/bin/"
ln -s python3.11 "$rootfs/usr/bin/python3"
cp -a /usr/lib/python3.11 "$rootfs/usr/lib/"
for unused in test ensurepip idlelib tkinter turtledemo lib2to3 pydoc_data; do
    rm -rf "$rootfs/usr/lib/python3.11/$unused"
done
# Debian's sitecustomize.py is a link into /etc/python3.11.
cp -a /etc/python3.11 "$rootfs/etc/"

# Every shared library that the interpreter, lib-dynload and the venvs'
# extension modules link, with the links resolved to plain files.
objects=(/usr/bin/python3.11 /usr/lib/python3.11/lib-dynload/*.so)
for venv in "${venvs[@]}"; do
    while IFS= read -r -d '' module; do
        objects+=("$module")
    done < <(find "$venv" -name '*.so' -print0)
done
libraries=$(
    ldd "${objects[@]}" 2>/dev/null \
        | awk '/=> not found/ { print "MISSING " $1; next }
               $2 == "=>" && $3 ~ /^\// { print $3; next }
               $1 ~ /^\// && $2 ~ /^\(/ { print $1 }' \
        | sort -u
)
if grep -q '^MISSING' <<<"$libraries"; then
    echo "assemble-runtime: libraries not found:" >&2
    grep '^MISSING' <<<"$libraries" >&2
    exit 1
fi
while IFS= read -r library; do
    cp -L --parents "$library" "$rootfs/"
done <<<"$libraries"

# TLS: Debian's CA bundle and OpenSSL's directory, whose certs/ and cert.pem
# link to it. Time zones for zoneinfo. Release data for scanners.
mkdir -p "$rootfs/etc/ssl/certs"
cp -L /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"
cp -L /etc/ssl/openssl.cnf "$rootfs/etc/ssl/"
cp -a /usr/lib/ssl "$rootfs/usr/lib/"
cp -a /usr/share/zoneinfo "$rootfs/usr/share/"
cp -L /etc/os-release "$rootfs/etc/os-release"

# Users: root, nonroot (65532) as in distroless, nobody. No login shells.
cat >"$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
PASSWD
cat >"$rootfs/etc/group" <<'GROUP'
root:x:0:
nobody:x:65534:
nonroot:x:65532:
GROUP
echo 'passwd: files' >"$rootfs/etc/nsswitch.conf"
echo 'group: files' >>"$rootfs/etc/nsswitch.conf"
echo 'hosts: files dns' >>"$rootfs/etc/nsswitch.conf"

mkdir -p "$rootfs/root" "$rootfs/home/nonroot" "$rootfs/tmp"
chmod 700 "$rootfs/root" "$rootfs/home/nonroot"
chown 65532:65532 "$rootfs/home/nonroot"
chmod 1777 "$rootfs/tmp"

# A shell would defeat the point of the image; fail loudly if one slipped in.
for shell in sh bash dash; do
    if [ -e "$rootfs/usr/bin/$shell" ]; then
        echo "assemble-runtime: $rootfs/usr/bin/$shell must not exist" >&2
        exit 1
    fi
done
