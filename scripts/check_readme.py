#!/usr/bin/env python3
"""Checks that README.md shows what the demo prints.

    bash scripts/demo.sh WAREHOUSE > demo.log 2>&1
    python3 scripts/check_readme.py demo.log WAREHOUSE

A code block right after a `<!-- demo-output -->` comment must appear in demo.log (the demo's
stdout and stderr); after `<!-- demo-output: FILE -->`, in the file FILE of the warehouse the demo
wrote. The block's lines must match consecutive lines there, compared with runs of spaces as one
space; `...` inside a line stands for any text, and a line that is only `...` for any number
of lines. Exits 1 and names the block's line in README.md when one does not match.
Standard library only; cheap: it reads what the demo already wrote.
"""
import re
import sys
from pathlib import Path

MARKER = re.compile(r"^<!-- demo-output(?::\s*(\S+))?\s*-->$")


def blocks(readme):
    """(line number, file or None, the block's lines) of every marked block."""
    lines = readme.splitlines()
    i = 0
    while i < len(lines):
        m = MARKER.match(lines[i].strip())
        i += 1
        if not m:
            continue
        while i < len(lines) and not lines[i].startswith("```"):
            i += 1
        start = i + 1
        end = start
        while end < len(lines) and not lines[end].startswith("```"):
            end += 1
        yield start + 1, m.group(1), lines[start:end]
        i = end + 1


def squeeze(line):
    return " ".join(line.split())


def pattern(line):
    return re.compile(".*".join(re.escape(part) for part in squeeze(line).split("...")) + "$")


def matches(block, text, at):
    """Whether `block` matches `text` from line `at` on."""
    if not block:
        return True
    if squeeze(block[0]) == "...":
        return any(matches(block[1:], text, j) for j in range(at, len(text) + 1))
    return at < len(text) and pattern(block[0]).match(squeeze(text[at])) is not None and matches(block[1:], text, at + 1)


def main():
    log, warehouse = Path(sys.argv[1]), Path(sys.argv[2])
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    failed = checked = 0
    for line_no, name, block in blocks(readme):
        source = warehouse / name if name else log
        text = source.read_text().splitlines()
        checked += 1
        if not any(matches(block, text, at) for at in range(len(text))):
            failed += 1
            print(f"README.md:{line_no}: this block is not what the demo printed to {source}:", file=sys.stderr)
            print("\n".join("    " + b for b in block), file=sys.stderr)
    if failed:
        sys.exit(1)
    print(f"README: {checked} blocks match the demo")


if __name__ == "__main__":
    main()
