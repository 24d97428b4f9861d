"""Training on a memory-mapped .npy much larger than a memory budget (issue 8)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="reads peak memory from /proc (Linux)"
)

# Runs in a fresh process: samples the process's anonymous resident memory (what it
# allocated; the page cache of the mapped file is the kernel's and is reclaimable)
# every few milliseconds while it trains one epoch and encodes the whole file.
SCRIPT = r"""
import json, sys, threading, time
import numpy as np

def anon_mib():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024

import aekit
settings = dict(hidden=(32,), epochs=1, batch_size=512, random_state=0, device="cpu")
# warm up on a small in-memory array: torch's own buffers and thread pools are the baseline
aekit.Autoencoder(8, **settings).fit(np.random.rand(4096, 1000).astype(np.float32))
X = np.load(sys.argv[1], mmap_mode="r")
baseline, peak, done = anon_mib(), [0.0], False
def sample():
    while not done:
        peak[0] = max(peak[0], anon_mib())
        time.sleep(0.002)
thread = threading.Thread(target=sample); thread.start()
model = aekit.Autoencoder(8, **settings).fit(X)
codes = model.transform(X)
done = True; thread.join()
print(json.dumps({"baseline": baseline, "peak": peak[0], "codes": list(codes.shape)}))
"""


def test_fit_and_transform_a_memmap_several_times_the_budget(tmp_path):
    rows, features = 100_000, 1000  # 400 MB of float32
    path = tmp_path / "big.npy"
    big = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, features))
    rng = np.random.default_rng(0)
    for start in range(0, rows, 10_000):
        big[start : start + 10_000] = rng.random((10_000, features), dtype=np.float32)
    big.flush()
    del big
    budget_mib = 100  # the file is 4x this
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(path)], capture_output=True, text=True, timeout=400
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["codes"] == [rows, 8]
    grown = result["peak"] - result["baseline"]
    assert grown < budget_mib, f"anonymous memory grew by {grown:.0f} MiB for a 381 MiB file"
