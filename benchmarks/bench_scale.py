"""Scale benchmark (issue "Scale out"): big runs, memory bound, Dask scaling. Not part of the test suite.

(a) 10^8 line items with the local executor: wall time, lines/s, peak RSS of every process, output size;
(b) the memory bound of issue 3: peak RSS (all processes together) while generating 5 x 10^7 line items;
(c) 1 vs 2 Dask workers (LocalCluster) on a mid-size dataset: the scaling ratio (goal >= 1.7x).

Every run uses the `large` preset (24 months, 600 stores, 12,000 products) with the customer count chosen for the
target number of lines (calibrated on one shard first). Outputs are deleted after each run unless --keep.

Usage:
    python benchmarks/bench_scale.py                       # everything (about 3-6 minutes on 2 cores)
    python benchmarks/bench_scale.py --lines 2e7 --skip-memory --dask-lines 4e6   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from retailsim.config import SimConfig, build_config
from retailsim.generate.runner import Executor, generate
from retailsim.generate.shards import simulate_shard
from retailsim.generate.world import build_world

GIB = 1024**3


class RssSampler:
    """Peak resident memory of this process and all its descendants, per process and summed, sampled every
    ``interval`` seconds in a background thread."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.per_pid: dict[int, tuple[str, int]] = {}
        self.cpu: dict[int, float] = {}  # user + system seconds, last seen, per process
        self.peak_total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for p in [me, *me.children(recursive=True)]:
                try:
                    rss = p.memory_info().rss
                    name = "main" if p.pid == me.pid else " ".join(p.cmdline()[1:3])[-40:] or p.name()
                    t = p.cpu_times()
                    self.cpu[p.pid] = t.user + t.system
                except psutil.Error:
                    continue
                total += rss
                if rss > self.per_pid.get(p.pid, ("", 0))[1]:
                    self.per_pid[p.pid] = (name, rss)
            self.peak_total = max(self.peak_total, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        me = psutil.Process()
        self._cpu0: dict[int, float] = {}
        for p in [me, *me.children(recursive=True)]:  # processes already running (a LocalCluster's workers)
            try:
                t = p.cpu_times()
            except psutil.Error:
                continue
            self._cpu0[p.pid] = t.user + t.system
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def cpu_seconds(self) -> float:
        """CPU time (user + system) of every process during the run (only what was used after the start)."""
        return sum(cpu - self._cpu0.get(pid, 0.0) for pid, cpu in self.cpu.items())

    @property
    def peak_worker(self) -> int:
        """Largest peak of any process other than the main one (0 when all work ran in the main process)."""
        main = os.getpid()
        return max((rss for pid, (_, rss) in self.per_pid.items() if pid != main), default=0)

    @property
    def peak_main(self) -> int:
        return self.per_pid.get(os.getpid(), ("", 0))[1]


@dataclass
class RunResult:
    label: str
    executor: str
    workers: int
    shards: int
    customers: int
    lines: int
    seconds: float
    output_bytes: int
    files: int
    peak_rss_main: int
    peak_rss_worker: int
    peak_rss_total: int
    cpu_seconds: float
    load_average: float
    per_process: list[tuple[str, int]] = field(default_factory=list)

    @property
    def lines_per_s(self) -> float:
        return self.lines / self.seconds

    @property
    def lines_per_cpu_s(self) -> float:
        """Lines per CPU-second of all processes: what one dedicated core does, whatever else runs."""
        return self.lines / max(self.cpu_seconds, 1e-9)

    def row(self) -> str:
        return (
            f"{self.label:<26} {self.executor:>6} x{self.workers:<2} {self.lines:>13,} lines "
            f"{self.seconds:>7.1f} s {self.lines_per_s:>11,.0f} lines/s "
            f"({self.lines_per_cpu_s:,.0f} per CPU-s, load {self.load_average:.1f})  "
            f"RSS main {self.peak_rss_main / GIB:.2f} GiB, worker {self.peak_rss_worker / GIB:.2f} GiB, "
            f"all {self.peak_rss_total / GIB:.2f} GiB  out {self.output_bytes / GIB:.2f} GiB in {self.files} files"
        )


def sized(
    base: SimConfig, lines: float, per_customer: float, shard_customers: int | None = None
) -> SimConfig:
    """``base`` with enough customers for about ``lines`` line items (and optionally another shard size)."""
    data = base.model_dump()
    data["customers"]["count"] = max(1, round(lines / per_customer))
    if shard_customers:
        data["shard_customers"] = shard_customers
    return SimConfig.model_validate(data)


def _lines_of_shard0(config_json: str) -> int:
    cfg = SimConfig.model_validate_json(config_json)
    return simulate_shard(build_world(cfg), 0).lines.num_rows


def calibrate(base: SimConfig) -> float:
    """Line items per customer of ``base``: one full shard, simulated in a child process so that this
    process's own peak memory stays that of a coordinator."""
    one = sized(base, base.shard_customers, 1.0)
    with ProcessPoolExecutor(1) as pool:
        return pool.submit(_lines_of_shard0, one.model_dump_json()).result() / one.shard_customers


def run(
    label: str,
    cfg: SimConfig,
    root: Path,
    *,
    workers: int,
    executor: Executor | None = None,
    executor_name: str = "local",
    keep: bool = False,
    before: Callable[[], None] | None = None,
) -> RunResult:
    out = root / label.replace(" ", "_")
    if before:
        before()
    with RssSampler() as rss:
        t0 = time.perf_counter()
        ds = generate(cfg, out, workers=workers, executor=executor)
        seconds = time.perf_counter() - t0
    files = ds.manifest["files"]
    res = RunResult(
        label=label,
        executor=executor_name,
        workers=workers,
        shards=cfg.n_shards,
        customers=cfg.customers.count,
        lines=ds.rows("transaction_lines"),
        seconds=seconds,
        output_bytes=sum(int(f["bytes"]) for f in files),
        files=len(files),
        peak_rss_main=rss.peak_main,
        peak_rss_worker=rss.peak_worker,
        peak_rss_total=rss.peak_total,
        cpu_seconds=rss.cpu_seconds,
        load_average=os.getloadavg()[0],
        per_process=sorted(rss.per_pid.values(), key=lambda x: -x[1])[:8],
    )
    if not keep:
        shutil.rmtree(out, ignore_errors=True)
    print(res.row(), flush=True)
    return res


def _probe_work(seconds: float) -> int:
    """Sort random arrays for ``seconds``; return how many (a fixed unit of numpy work)."""
    import numpy as np

    rng = np.random.default_rng(0)
    n, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        np.sort(rng.random(200_000))
        n += 1
    return n


def capacity_probe(seconds: float = 3.0) -> float:
    """Throughput of 2 processes doing the same numpy work at once over that of 1: what a perfect 2-worker
    executor could reach on this machine right now (2.0 on two free cores; less when others use the CPUs)."""
    with ProcessPoolExecutor(2) as pool:
        one = pool.submit(_probe_work, seconds).result()
        two = sum(f.result() for f in [pool.submit(_probe_work, seconds) for _ in range(2)])
    return two / max(one, 1)


def dask_scaling(
    base: SimConfig, per_customer: float, lines: float, root: Path, repeats: int
) -> list[RunResult]:
    """1 vs 2 workers, alternated ``repeats`` times; the best run of each counts (the machine is shared)."""
    from retailsim.scale.dask_executor import DaskExecutor

    # the preset's shards (20,000 customers, ~2.5M lines): enough of them that 2 workers get balanced work,
    # big enough that building the world in every task stays a small part of a task
    cfg = sized(base, lines, per_customer)
    runs: dict[int, list[RunResult]] = {1: [], 2: []}
    before = capacity_probe()
    for r in range(repeats):
        for n in (1, 2):
            with DaskExecutor(workers=n) as ex:
                ex.client.wait_for_workers(n)
                runs[n].append(
                    run(
                        f"dask {n} worker(s) #{r + 1}",
                        cfg,
                        root,
                        workers=n,
                        executor=ex,
                        executor_name="dask",
                    )
                )
    after = capacity_probe()
    best = {n: min(rs, key=lambda x: x.seconds) for n, rs in runs.items()}
    ratio = best[1].seconds / best[2].seconds
    cpu_ratio = best[2].lines_per_cpu_s / best[1].lines_per_cpu_s
    print(
        f"Dask scaling 1 -> 2 workers (best of {repeats}): {ratio:.2f}x wall-clock (goal >= 1.7x); CPU cost per "
        f"line with 2 workers = {1 / cpu_ratio:.2f} x that with 1 (1.00 = no overhead from going parallel); "
        f"machine's own 2-process capacity (numpy probe) before/after: {before:.2f}x / {after:.2f}x",
        flush=True,
    )
    return [best[1], best[2]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=float, default=1e8, help="Line items of the big local run.")
    ap.add_argument("--memory-lines", type=float, default=5e7, help="Line items of the memory-bound run.")
    ap.add_argument("--dask-lines", type=float, default=2e7, help="Line items of the Dask scaling runs.")
    ap.add_argument("--workers", type=int, default=2, help="Local workers of the big and memory runs.")
    ap.add_argument(
        "--repeats", type=int, default=3, help="Alternated 1- and 2-worker Dask runs (best counts)."
    )
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--skip-dask", action="store_true")
    ap.add_argument("--root", type=Path, default=None, help="Where outputs go (default: a temp folder).")
    ap.add_argument("--keep", action="store_true", help="Keep the generated datasets.")
    ap.add_argument("--json", type=Path, default=None, help="Also write the results as JSON here.")
    args = ap.parse_args()

    base = build_config("large", sets=["seed=42"])
    root = args.root or Path(tempfile.mkdtemp(prefix="retailsim-bench-scale-"))
    root.mkdir(parents=True, exist_ok=True)
    print(
        f"machine: {os.cpu_count()} CPUs, {psutil.virtual_memory().total / GIB:.1f} GiB RAM; outputs in {root}"
    )
    t0 = time.perf_counter()
    per_customer = calibrate(base)
    print(
        f"calibration: {per_customer:.1f} line items per customer ({time.perf_counter() - t0:.1f} s)",
        flush=True,
    )
    results: list[RunResult] = []
    try:
        if not args.skip_big:
            results.append(
                run(
                    f"big {args.lines:.0e}",
                    sized(base, args.lines, per_customer),
                    root,
                    workers=args.workers,
                    keep=args.keep,
                )
            )
        if not args.skip_memory:
            r = run(
                f"memory {args.memory_lines:.0e}",
                sized(base, args.memory_lines, per_customer),
                root,
                workers=args.workers,
                keep=args.keep,
            )
            results.append(r)
            verdict = "OK" if r.peak_rss_total <= 2 * GIB else "OVER"
            print(
                f"memory bound: {r.peak_rss_total / GIB:.2f} GiB for all processes (goal <= ~2 GiB): {verdict}"
            )
        if not args.skip_dask:
            results += dask_scaling(base, per_customer, args.dask_lines, root, args.repeats)
    finally:
        if not args.keep and args.root is None:
            shutil.rmtree(root, ignore_errors=True)
    print("\nper-process peaks of the last run:")
    for name, rss in results[-1].per_process if results else []:
        print(f"  {rss / GIB:6.2f} GiB  {name}")
    if args.json:
        payload = [
            {**asdict(r), "lines_per_s": r.lines_per_s, "lines_per_cpu_s": r.lines_per_cpu_s} for r in results
        ]
        args.json.write_text(json.dumps({"per_customer": per_customer, "runs": payload}, indent=2))


if __name__ == "__main__":
    main()
