"""Pool workers run generator tasks without importing pandas (0.3 s each) and still convert to pandas on
request. Checked in a fresh interpreter: the test process itself has imported pandas long ago."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pyarrow as pa

from retailsim.config import build_config
from retailsim.generate.process import init_worker
from retailsim.generate.shards import plan, run_task


def run(task):
    run_task(task)
    return "pandas" in sys.modules


def to_pandas():
    return len(pa.table({"a": [1, 2, 3]}).to_pandas())


if __name__ == "__main__":
    dims, shard = plan(build_config("tiny"), Path(sys.argv[1]), "parquet")[:2]
    with ProcessPoolExecutor(1, initializer=init_worker) as pool:
        print(pool.submit(run, dims).result(), pool.submit(run, shard).result(), pool.submit(to_pandas).result())
"""


def test_a_pool_worker_generates_without_pandas_and_can_still_use_it(tmp_path: Path) -> None:
    script = tmp_path / "probe.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "out")], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["False", "False", "3"]
