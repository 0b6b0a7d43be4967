#!/usr/bin/env bash
# Installs what building and testing procreg needs on Debian 12 (run as root).
#   tools/install-deps.sh        g++, CMake, help2man and the libraries
#   tools/install-deps.sh --ci   also clang 14 with its sanitizer runtimes, clang-format and
#                                clang-tidy
set -euo pipefail
packages=(
  build-essential cmake help2man
  libzmq3-dev cppzmq-dev libmsgpack-cxx-dev libboost-dev libboost-test-dev
  libcli11-dev nlohmann-json3-dev libcurl4-openssl-dev etcd-server
  pkg-config libcpp-httplib-dev prometheus fiu-utils
  python3 python3-zmq python3-msgpack
)
if [[ "${1:-}" == "--ci" ]]; then
  packages+=(clang libclang-rt-14-dev clang-format clang-tidy)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
