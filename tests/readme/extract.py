#!/usr/bin/env python3
"""Pastes README.md's C++ snippets into one program, as a reader would.

usage: extract.py README.md MAIN_CC

Every ```cpp (or c++, cxx) block goes, in order, into one `int main() { ... }`; its #include
lines are moved above main (each once). An HTML comment alone on the line before a block's fence
changes that: `<!-- snippet: top -->` puts the block above main (after the includes),
`<!-- snippet: skip -->` leaves it out. #line directives point the compiler's messages at
README.md's lines.
"""
import pathlib
import re
import sys

FENCE = re.compile(r"^```(cpp|c\+\+|cxx)\s*$")
MARKER = re.compile(r"^<!--\s*snippet:\s*(\w+)\s*-->\s*$")


def blocks(lines):
    """Yields (marker, first line number, lines) for each ```cpp block."""
    i = 0
    while i < len(lines):
        if not FENCE.match(lines[i]):
            i += 1
            continue
        marker = MARKER.match(lines[i - 1]) if i > 0 else None
        start = i + 1
        end = start
        while end < len(lines) and lines[end].rstrip() != "```":
            end += 1
        if end == len(lines):
            sys.exit(f"README.md:{i + 1}: the ```cpp block is not closed")
        yield (marker.group(1) if marker else "main"), start + 1, lines[start:end]
        i = end + 1


def main():
    readme, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    name = readme.name
    includes, top, body = [], [], []
    count = 0
    for marker, first, text in blocks(readme.read_text().splitlines()):
        if marker not in ("main", "top", "skip"):
            sys.exit(f"{name}:{first - 1}: unknown snippet marker {marker!r}")
        if marker == "skip":
            continue
        count += 1
        target = top if marker == "top" else body
        target.append(f'#line {first} "{name}"')
        for n, line in enumerate(text, first):
            if line.startswith("#include"):
                if line not in includes:
                    includes += [f'#line {n} "{name}"', line]
                line = ""  # keeps the line numbers that follow
            target.append(line)
    if count == 0:
        sys.exit(f"{name}: no ```cpp block to build")
    program = includes + top + ["int main() {"] + body + ["}"]
    out.write_text("\n".join(program) + "\n")
    print(f"{count} snippet(s) of {name} in {out.name}")


if __name__ == "__main__":
    main()
