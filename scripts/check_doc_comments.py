#!/usr/bin/env python3
"""Lists the public declarations of the Ember module that have no `///` comment.

A declaration is a line that starts (after attributes such as `@discardableResult`) with
`public` or `open`, or an enum case on its own line inside a public enum. Its comment is
the `///` line just above it, above any attribute lines. Exits 1 when any is missing,
printing each as path:line: declaration.
"""
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent
module = root / "Sources/Ember"

attribute = re.compile(r"^\s*@\w+(\([^)]*\))?\s*$")
declaration = re.compile(r"^\s*(@\w+(\([^)]*\))?\s+)*(public|open)\b")
public_enum = re.compile(r"^\s*(@\w+(\([^)]*\))?\s+)*(public|open)\s+(indirect\s+)?enum\b[^{]*\{\s*$")
case_line = re.compile(r"^\s*(indirect\s+)?case\s+\w")


def documented(lines, i):
    j = i - 1
    while j >= 0 and attribute.match(lines[j]):
        j -= 1
    return j >= 0 and lines[j].lstrip().startswith("///")


def missing(path):
    lines = path.read_text().split("\n")
    found = []
    enum_depth = None   # brace depth inside the innermost public enum whose cases we check
    depth = 0
    for i, line in enumerate(lines):
        code = re.sub(r'"[^"]*"', '""', line.split("//")[0])
        if declaration.match(line) and not documented(lines, i):
            found.append((i + 1, line.strip()))
        elif enum_depth is not None and depth == enum_depth and case_line.match(line) and not documented(lines, i):
            found.append((i + 1, line.strip()))
        if public_enum.match(line):
            enum_depth = depth + 1
        depth += code.count("{") - code.count("}")
        if enum_depth is not None and depth < enum_depth:
            enum_depth = None
    return found


total = 0
for path in sorted(module.rglob("*.swift")):
    for line, text in missing(path):
        print(f"{path.relative_to(root)}:{line}: {text}")
        total += 1
print(f"doc comments: {total} public declaration(s) of Ember without ///", file=sys.stderr)
sys.exit(1 if total else 0)
