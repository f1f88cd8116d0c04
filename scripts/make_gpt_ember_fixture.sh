#!/bin/sh
# Writes Tests/EmberTests/Fixtures/gpt_ember/: a small GPT's initial weights from Ember's own
# default initialisation (init.safetensors), ten seeded batches of the fortunes corpus with
# Ember's loss after each AdamW step (steps.json), by `gpt --record`; then PyTorch replays
# the steps from those weights (bench/gpt_from_ember.py, which fails beyond 1e-4) and stores
# its losses beside Ember's. GPTTests checks that Ember's initialisation still gives these
# weights and that its steps still give PyTorch's losses.
#
# Usage: scripts/make_gpt_ember_fixture.sh   (fortunes installed; PyTorch from
#        shared/reference/setup.sh, or PYTHON=/path/to/python)
set -e
cd "$(dirname "$0")/.."
out=Tests/EmberTests/Fixtures/gpt_ember
swift build --product gpt
.build/debug/gpt --record "$out" --record-steps 10 --layers 2 --heads 2 --width 16 --block-size 8 \
    --batch-size 4 --lr 1e-3 --weight-decay 0.1 --grad-clip 1 --seed 7 --threads 1
"${PYTHON:-/tmp/pytorch-reference/venv/bin/python}" bench/gpt_from_ember.py "$out" --store
