#!/usr/bin/env bash
# Proves Ember works as a versioned SwiftPM dependency: clones this checkout, tags the
# clone, and builds + runs a small package that says `.package(url:…, from:)` and trains
# one step. SwiftPM rejects unsafe flags (-fopenmp) in versioned dependencies below
# tools-version 6.2, so this is what keeps Package.swift honest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/ember-consumer.XXXXXX")
trap 'rm -rf "$work"' EXIT
git clone -q "$root" "$work/Ember"
# Uncommitted changes are part of what is tested: copy the working tree over the clone.
(cd "$root" && git ls-files -co --exclude-standard -z) | (cd "$root" && xargs -0 cp --parents -t "$work/Ember" 2>/dev/null || true)
# The consumer asks for the latest release tag (0.1.0 before the first); the clone's own tags
# are dropped and that version is put on the commit under test.
version=$(git -C "$root" tag --list '[0-9]*.[0-9]*.[0-9]*' --sort=-v:refname | head -1)
version=${version:-0.1.0}
(cd "$work/Ember" && git tag -l | xargs -r git tag -d >/dev/null && git add -A \
  && git -c user.name=ci -c user.email=ci@localhost commit -qm "consumer check" --allow-empty && git tag "$version")
mkdir -p "$work/Consumer/Sources/Consumer"
cat > "$work/Consumer/Package.swift" <<SWIFT
// swift-tools-version:6.2
import PackageDescription
let package = Package(
    name: "Consumer",
    dependencies: [.package(url: "file://$work/Ember", from: "$version")],
    targets: [.executableTarget(name: "Consumer", dependencies: [.product(name: "Ember", package: "Ember")])]
)
SWIFT
cat > "$work/Consumer/Sources/Consumer/main.swift" <<'SWIFT'
import Ember

manualSeed(0)
let model = Sequential(Linear(4, 8), ReLU(), Linear(8, 3))
let optimizer = SGD(model.parameters(), lr: 0.1)
let lossFn = CrossEntropyLoss()
let x = Tensor.randn([16, 4])
let y = Tensor.randint(0, 3, [16])
let before = lossFn(model(x), y)
before.backward()
optimizer.step()
optimizer.zeroGrad()
let after = noGrad { lossFn(model(x), y) }
print("consumer: loss \(before.item()) -> \(after.item())")
precondition(after.item() < before.item(), "one SGD step did not lower the loss")
SWIFT
echo "consumer-check: Ember $version (the latest tag, on the code under test)"
cd "$work/Consumer"
swift run Consumer
