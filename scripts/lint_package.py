#!/usr/bin/env python3
"""Checks Package.swift's conventions; exits 1 naming each break.

- swift-tools-version 6.2 or later (the C target's -fopenmp is an unsafe flag, accepted from
  versioned dependencies since 6.2).
- Targets grouped under `// MARK:` headings; test targets only under a heading that says
  "Tests", and nothing else there.
- Every target with Swift sources builds in the Swift 6 language mode.
- Every product names targets that exist; every executable target is a product or has a
  comment just above it saying why it is not.

Usage: scripts/lint_package.py [path/to/Package.swift]
"""
import pathlib
import re
import sys

manifest = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else
                        pathlib.Path(__file__).resolve().parent.parent / "Package.swift")
root = manifest.parent
text = manifest.read_text()
lines = text.split("\n")
problems = []

m = re.match(r"// swift-tools-version:\s*(\d+)\.(\d+)", lines[0])
if not m:
    problems.append("line 1: no `// swift-tools-version:` line")
elif (int(m.group(1)), int(m.group(2))) < (6, 2):
    problems.append(f"line 1: swift-tools-version {m.group(1)}.{m.group(2)}, 6.2 or later needed")

kinds = ("target", "executableTarget", "testTarget", "systemLibrary", "binaryTarget", "plugin", "macro")
start = re.compile(r"^\s*\.(%s)\(\s*$" % "|".join(kinds))
targets = []   # (kind, name, first line index, last line index, heading)
heading = None
try:
    targets_at = next(i for i, l in enumerate(lines) if re.match(r"^\s*targets:\s*\[", l))
except StopIteration:
    targets_at = None
    problems.append("no `targets: [` list")
if targets_at is not None:
    i = targets_at
    while i < len(lines):
        mark = re.match(r"^\s*// MARK:\s*(.+)", lines[i])
        if mark:
            heading = mark.group(1).strip()
        s = start.match(lines[i])
        if s:
            depth, j = 0, i
            while True:
                depth += lines[j].count("(") - lines[j].count(")")
                if depth <= 0:
                    break
                j += 1
            block = "\n".join(lines[i:j + 1])
            name = re.search(r'name:\s*"([^"]+)"', block)
            targets.append((s.group(1), name.group(1) if name else "?", i, j, heading, block))
            i = j
        i += 1

names = {t[1] for t in targets}
for kind, name, first, last, heading, block in targets:
    where = f"line {first + 1}: {kind} {name}"
    if heading is None:
        problems.append(f"{where} is not under a `// MARK:` heading")
    elif (kind == "testTarget") != ("Tests" in heading):
        problems.append(f"{where} is under `// MARK: {heading}`"
                        + (" (test targets go under a Tests heading)" if kind == "testTarget"
                           else " (only test targets go there)"))
    if kind in ("target", "executableTarget", "testTarget"):
        path = re.search(r'path:\s*"([^"]+)"', block)
        folder = root / (path.group(1) if path else ("Tests" if kind == "testTarget" else "Sources") + "/" + name)
        sources = re.search(r'sources:\s*\[([^\]]*)\]', block)
        folders = [folder / f for f in re.findall(r'"([^"]+)"', sources.group(1))] if sources else [folder]
        has_swift = any(f.is_dir() and any(f.rglob("*.swift")) for f in folders)
        if has_swift and ".swiftLanguageMode(.v6)" not in block:
            problems.append(f"{where} has Swift sources but no swiftSettings: [.swiftLanguageMode(.v6)]")

products_at = next((i for i, l in enumerate(lines) if re.match(r"^\s*products:\s*\[", l)), None)
product_targets = set()
if products_at is None:
    problems.append("no `products: [` list")
else:
    i = products_at
    while i < len(lines) and not re.match(r"^\s*\],?\s*$", lines[i]):
        p = re.search(r'\.(library|executable|plugin)\(name:\s*"([^"]+)".*targets:\s*\[([^\]]*)\]', lines[i])
        if p:
            for t in re.findall(r'"([^"]+)"', p.group(3)):
                product_targets.add(t)
                if t not in names:
                    problems.append(f"line {i + 1}: product {p.group(2)} names target {t}, which does not exist")
        i += 1
for kind, name, first, last, heading, block in targets:
    if kind == "executableTarget" and name not in product_targets and not lines[first - 1].strip().startswith("//"):
        problems.append(f"line {first + 1}: executableTarget {name} is not a product and has no comment above it")

for p in problems:
    print(f"{manifest}: {p}", file=sys.stderr)
print(f"package lint: {len(targets)} targets, {len(problems)} problem(s)")
sys.exit(1 if problems else 0)
