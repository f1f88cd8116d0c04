#!/usr/bin/env python3
"""Checks that the DocC articles' Swift code is the code the test suite runs.

Every ```swift block of Sources/Ember/Ember.docc/<Name>.md must appear verbatim (the same
lines, at any one indentation) in Tests/DocsTests/<Name>ArticleTests.swift, whose tests run
it and check what the article says it does; so must the README's tour, in
Tests/DocsTests/ReadmeTourTests.swift. `import` lines of a block must be among the test
file's imports. Exits 1 naming each block that is missing.
"""
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent
catalog = root / "Sources/Ember/Ember.docc"
tests = root / "Tests/DocsTests"


def swift_blocks(text):
    """(line number, lines) of each ```swift block."""
    blocks, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        if lines[i].strip() == "```swift":
            start, body = i + 1, []
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            blocks.append((start + 1, body))
        i += 1
    return blocks


def dedent(block):
    indent = min((len(l) - len(l.lstrip(" ")) for l in block if l.strip()), default=0)
    return [l[indent:] if l.strip() else "" for l in block]


def appears(block, source):
    """Whether `block` occurs in `source` as consecutive lines under one common indent."""
    block = dedent(block)
    imports = [l for l in block if l.startswith("import ")]
    if any(l not in source for l in imports):
        return False
    block = [l for l in block if not l.startswith("import ")]
    while block and not block[0]:
        block.pop(0)
    while block and not block[-1]:
        block.pop()
    for i, line in enumerate(source):
        stripped = line.lstrip(" ")
        if stripped != block[0]:
            continue
        pad = line[: len(line) - len(stripped)]
        if i + len(block) > len(source):
            continue
        if all((s == pad + b) if b else not s.strip() for s, b in zip(source[i:i + len(block)], block)):
            return True
    return False


failures = []
articles = sorted(catalog.glob("*.md"))
if not articles:
    failures.append(f"no articles in {catalog}")
for article in articles:
    blocks = swift_blocks(article.read_text())
    test_file = tests / f"{article.stem}ArticleTests.swift"
    if not blocks:
        continue
    if not test_file.exists():
        failures.append(f"{article.relative_to(root)}: {len(blocks)} swift block(s) but no {test_file.relative_to(root)}")
        continue
    source = test_file.read_text().split("\n")
    for line, block in blocks:
        if not appears(block, source):
            failures.append(f"{article.relative_to(root)}:{line}: swift block not found verbatim in "
                            f"{test_file.relative_to(root)}")
readme = (root / "README.md").read_text()
tour = readme.split("\n## A tour\n", 1)[1].split("\n## ", 1)[0] if "\n## A tour\n" in readme else ""
tour_blocks = swift_blocks(tour)
tour_tests = tests / "ReadmeTourTests.swift"
if not tour_blocks:
    failures.append("README.md: no swift block under `## A tour`")
for line, block in tour_blocks:
    if not tour_tests.exists() or not appears(block, tour_tests.read_text().split("\n")):
        failures.append(f"README.md (A tour, block at its line {line}): not found verbatim in "
                        f"{tour_tests.relative_to(root)}")
for test_file in sorted(tests.glob("*ArticleTests.swift")):
    if not (catalog / (test_file.name[: -len("ArticleTests.swift")] + ".md")).exists():
        failures.append(f"{test_file.relative_to(root)}: no article {test_file.name[:-len('ArticleTests.swift')]}.md")

for f in failures:
    print(f, file=sys.stderr)
count = sum(len(swift_blocks(a.read_text())) for a in articles) + len(tour_blocks)
print(f"docs snippets: {count} swift blocks in {len(articles)} articles and the README's tour, "
      f"{len(failures)} problem(s)")
sys.exit(1 if failures else 0)
