#!/usr/bin/env bash
# ctest driver: paste README.md's ```cpp blocks into one main() (extract.py), install procreg
# from BUILD_DIR into a prefix, build the program against it with find_package(procreg) and
# -Wall -Wextra -Werror, and run it in an empty directory (its log directory is relative).
set -euo pipefail
build_dir=$1
source_dir=$2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/src" "$work/run"
cp "$here/CMakeLists.txt" "$work/src/"
python3 "$here/extract.py" "$source_dir/README.md" "$work/src/main.cc"
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
cmake -S "$work/src" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
if ! cmake --build "$work/build" >"$work/build.log" 2>&1; then
  cat "$work/build.log"
  echo "README.md's snippets do not build; the program was:"
  cat -n "$work/src/main.cc"
  exit 1
fi
cd "$work/run"
timeout 60 "$work/build/readme_snippets"
