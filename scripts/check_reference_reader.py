"""Checks by hand that the reference safetensors reader (huggingface/safetensors, numpy
backend: `pip install safetensors`) accepts every file Ember writes:

    EMBER_EXPORT_DIR=/tmp/ember-export swift test --filter SerializationTests.testExportForPyTorchCheck
    python scripts/check_reference_reader.py /tmp/ember-export

Loads each ember_*.safetensors with safetensors.numpy.load_file and safe_open (which
validate the header, the offsets and the buffer coverage) and compares the dtypes file with
the values the test wrote.
"""
import glob
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file

d = sys.argv[1]
files = sorted(glob.glob(f"{d}/ember_*.safetensors"))
assert len(files) >= 4, files
for path in files:
    tensors = load_file(path)
    with safe_open(path, framework="np") as f:
        meta = f.metadata()
    print(f"{path}: {len(tensors)} tensors, metadata keys {sorted(meta or {})}")

t = load_file(f"{d}/ember_dtypes.safetensors")
assert t["f"].dtype == np.float32 and t["f"].tolist() == [1.5, -2, 3.25], t["f"]
assert t["i"].dtype == np.int64 and t["i"].shape == (2, 1) and t["i"].ravel().tolist() == [7, -9], t["i"]
assert t["b"].dtype == np.bool_ and t["b"].tolist() == [True, False, True], t["b"]
assert t["scalar"].shape == () and t["scalar"] == 4, t["scalar"]
assert t["empty"].shape == (0, 3), t["empty"].shape
assert t['é "quoted"\n'].tolist() == [1.0]
with safe_open(f"{d}/ember_dtypes.safetensors", framework="np") as f:
    assert f.metadata() == {"format": "pt", "note": 'ünïcode \\ "q"'}, f.metadata()
ck = load_file(f"{d}/ember_checkpoint.safetensors")
assert any(k.endswith(".step") and v.dtype == np.int64 for k, v in ck.items()), sorted(ck)
print("OK")
