#!/usr/bin/env bash
# Writes procreg(1) with Debian's help2man from the built command: its --help and --version,
# procreg.h2m (the sections written by hand) and a SUBCOMMANDS section made here from every
# subcommand's --help (and every nested one's: log dump), so that the page follows the command.
# tools/procreg/CMakeLists.txt runs it after each build of the command.
#   man-page.sh HELP2MAN PROCREG H2M OUTPUT
set -euo pipefail
help2man=$1 procreg=$2 h2m=$3 out=$4

# The names listed under "Subcommands:" in a --help text on stdin.
subcommands() {
  awk '/^Subcommands:$/ { on = 1; next }
       on && /^  [a-z]/ { print $1; next }
       on && !/^ / { on = 0 }'
}

# A --help text on stdin as roff: a subsection named $1 with the description, the usage and a
# tagged paragraph per option, positional argument or subcommand. CLI11 prints an entry's name
# in 30 columns and its description after them, or on the next line past a long name. The
# examples of the footer are kept as they are printed (no filling); the exit codes that end
# every footer are left out.
# shellcheck disable=SC2016  # awk's $0, not the shell's
roff='
function esc(s) {
  gsub(/\\/, "\\e", s)
  gsub(/-/, "\\-", s)
  if (s ~ /^[.'"'"']/) s = "\\&" s
  return s
}
function trim(s) { sub(/^ +/, "", s); sub(/ +$/, "", s); return s }
function entry(name, desc,  sp) {
  sp = index(name, " ")
  print ".TP"
  if (sp) print "\\fB" esc(substr(name, 1, sp - 1)) "\\fR " esc(substr(name, sp + 1))
  else print "\\fB" esc(name) "\\fR"
  if (desc != "") print esc(desc)
}
function flush() {
  if (pending == "") return
  if (length(pending) > 30 && substr(pending, 30, 1) == " ") {
    entry(trim(substr(pending, 1, 30)), trim(substr(pending, 31)))
  } else {
    entry(trim(pending), "")
  }
  pending = ""
}
NR == 1 { print ".SS \"" title "\""; print esc($0); next }
/^Exit codes:/ { exit }
/^Examples:$/ { flush(); print ".PP"; print esc($0); print ".nf"; examples = 1; next }
examples && /^ *$/ { print ".fi"; examples = 0; next }
examples { print esc($0); next }
/^ *$/ { flush(); next }
/^Usage: / { flush(); print ".PP"; print esc($0); next }
/^[A-Z][A-Za-z ]*:$/ { flush(); print ".PP"; print esc($0); next }
/^  [^ ]/ { flush(); pending = $0; next }
substr($0, 1, 30) ~ /^ +$/ {
  if (pending != "") { entry(trim(pending), trim($0)); pending = ""; next }
  print esc(trim($0)); next
}
{ flush(); print esc($0) }
END { flush(); if (examples) print ".fi" }
'

# The subsection of `procreg $*`, and those of its own subcommands.
section() {
  local help nested
  help=$("$procreg" "$@" --help)
  awk -v title="procreg $*" "$roff" <<<"$help"
  for nested in $(subcommands <<<"$help"); do
    section "$@" "$nested"
  done
}

generated=$out.subcommands.h2m
{
  echo "[SUBCOMMANDS]"
  echo "Each subcommand's options, as \\fBprocreg \\fISUBCOMMAND\\fB \\-\\-help\\fR prints them."
  for sub in $("$procreg" --help | subcommands); do
    section "$sub"
  done
} >"$generated"
version=$("$procreg" --version)
"$help2man" --no-info --section=1 --version-string="${version%% (*}" \
  --name="an event-sourced process registry on ZeroMQ" \
  --include="$generated" --include="$h2m" --output="$out.tmp" "$procreg"
mv "$out.tmp" "$out"
rm -f "$generated"
