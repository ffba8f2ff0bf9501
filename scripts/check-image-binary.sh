#!/usr/bin/env bash
# Builds scopegate exactly as the Dockerfile does and checks that the binary runs on the runtime image,
# gcr.io/distroless/cc-debian12: it may link only glibc (libc, libm, libpthread, libdl, librt, the
# loader) and libgcc_s, and must not need a newer glibc than Debian 12's (2.36). No Docker engine is
# needed: this is the part of the image build that can go wrong without one.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
cargo build --release --locked --bin scopegate
bin=target/release/scopegate
allowed='^(linux-vdso\.so\.1|libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|libgcc_s\.so\.1|/lib64/ld-linux-x86-64\.so\.2|ld-linux-x86-64\.so\.2)$'
bad=$(ldd "$bin" | awk '{print $1}' | grep -Ev "$allowed" || true)
if [ -n "$bad" ]; then
    echo "scopegate links libraries the distroless cc image does not have:" >&2
    echo "$bad" >&2
    exit 1
fi
newest=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)
if [ "$(printf '%s\n2.36\n' "$newest" | sort -V | tail -1)" != 2.36 ]; then
    echo "scopegate needs glibc $newest; Debian 12 (the runtime image) has 2.36" >&2
    exit 1
fi
"$bin" --version >/dev/null
echo "check-image-binary: $bin links only glibc (<= $newest) and libgcc_s, as distroless cc-debian12 provides; $(du -h "$bin" | cut -f1)"
