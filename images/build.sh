#!/usr/bin/env bash
# Builds the two Karst images with the local Docker engine and tags them as
# the defaults expect: karst:<version> (the broker image a KafkaCluster gets
# when it names none: operator/src/cluster/validate.rs) and
# karst-operator:<version> (the Helm chart's image.repository, tag = the
# chart's appVersion). <version> is the workspace version (Cargo.toml).
#
# The binaries are static (glibc's +crt-static; no musl target can be
# installed here) release builds, stripped, in FROM scratch images.
#
#   images/build.sh [--tag VERSION]
#
# Uses $DOCKER_HOST or starts dockerd (images/dockerd.sh; stopped again at
# the end if started here). Prints each image's size.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
while [ $# -gt 0 ]; do
  case $1 in
    --tag) version=$2; shift 2 ;;
    *) echo "usage: images/build.sh [--tag VERSION]" >&2; exit 2 ;;
  esac
done
[ -n "$version" ] || { echo "no version in Cargo.toml" >&2; exit 1; }
triple=x86_64-unknown-linux-gnu
target_dir=${CARGO_TARGET_DIR:-$root/target}
stage="$root/target/images"

# shellcheck source=images/dockerd.sh
. "$root/images/dockerd.sh"
trap docker_stop_if_started EXIT

echo "--- static release build (karst, karst-operator)"
# No debug info: the images carry stripped binaries, and the line tables of
# the workspace's release profile only slow the build and the link.
RUSTFLAGS='-C target-feature=+crt-static' CARGO_PROFILE_RELEASE_DEBUG=false \
  cargo build --release --locked --target "$triple" \
  -p karst-broker --bin karst -p karst-operator --bin karst-operator

echo "--- staging target/images (binaries stripped; the images' few files)"
rm -rf "$stage" && mkdir -p "$stage"
for bin in karst karst-operator; do
  strip -o "$stage/$bin" "$target_dir/$triple/release/$bin"
done
for image in broker operator; do
  mkdir -p "$stage/$image/etc"
  # Names for uid/gid 10001 (ps, id, and logs that resolve them).
  echo 'karst:x:10001:10001:karst:/var/lib/karst:/sbin/nologin' > "$stage/$image/etc/passwd"
  echo 'karst:x:10001:' > "$stage/$image/etc/group"
done
# The operator's Kubernetes client (kube with rustls) refuses to start
# without system root certificates, even when the cluster's own CA comes
# from the service account: the image carries Debian's bundle.
ca_bundle=/etc/ssl/certs/ca-certificates.crt
[ -s "$ca_bundle" ] || { echo "$ca_bundle missing: apt-get install -y ca-certificates" >&2; exit 1; }
mkdir -p "$stage/operator/etc/ssl/certs"
cp "$ca_bundle" "$stage/operator/etc/ssl/certs/ca-certificates.crt"
mkdir -p "$stage/broker/etc/karst" "$stage/broker/var/lib/karst" "$stage/broker/tmp"
chmod 1777 "$stage/broker/tmp"
# The image's own configuration (a KafkaCluster's ConfigMap is mounted over
# /etc/karst instead): every interface, data in the volume.
cat > "$stage/broker/etc/karst/server.properties" <<'PROPS'
# Default configuration of the karst image. KARST_* variables override any
# line (KARST_ADVERTISED_LISTENERS=PLAINTEXT://host:port when clients reach
# the broker under another name than localhost:9092).
listeners=PLAINTEXT://0.0.0.0:9092
advertised.listeners=PLAINTEXT://localhost:9092
karst.http.listener=0.0.0.0:9644
log.dirs=/var/lib/karst/data
PROPS

echo "--- docker build"
docker_ensure
export DOCKER_BUILDKIT=0
for spec in "broker/Dockerfile karst" "operator/Dockerfile karst-operator"; do
  set -- $spec
  docker build -f "$1" -t "$2:$version" . > "$stage/docker-build-$2.log" 2>&1 \
    || { cat "$stage/docker-build-$2.log" >&2; echo "docker build -f $1 failed" >&2; exit 1; }
done
for image in "karst:$version" "karst-operator:$version"; do
  size=$(docker image inspect -f '{{.Size}}' "$image")
  printf '%s: %s bytes (%s MB)\n' "$image" "$size" "$((size / 1000000))"
done
