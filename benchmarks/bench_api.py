"""Benchmark the scoring API: requests/s and p50/p99 latency of POST /predict and POST /score.

Starts ``retailsim serve`` on a free port of 127.0.0.1 (a subprocess, as in production), waits for /health,
then sends requests from one client (sequential: the latency of one call) and from a few concurrent clients
(throughput). Every phase is bounded both in count and in time; all traffic goes to 127.0.0.1 only; the server
is stopped at the end, also on errors.

Usage::

    python benchmarks/bench_api.py DATASET [--model PATH] [--requests 300] [--seconds 30]
    python benchmarks/bench_api.py --preset demo          # generate the demo preset and train a fast model

Goal: p99 < 50 ms for a single prediction (no basket) on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port of 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def retailsim_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("retailsim")
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "retailsim"]


def prepare(preset: str, work: Path) -> tuple[Path, Path]:
    """Generate ``preset`` and train a fast model on it (returns dataset and model folders)."""
    ds = work / preset
    subprocess.run([*retailsim_cmd(), "generate", "--preset", preset, "--out", str(ds), "-q"], check=True)
    model = work / "model"
    subprocess.run(
        [*retailsim_cmd(), "ml", "train", str(ds), "--models", "hurdle", "--model-dir", str(model), "-q"],
        check=True,
    )
    return ds, model


class Server:
    """``retailsim serve`` in a subprocess on a free loopback port (a context manager that always stops it)."""

    def __init__(self, dataset: Path, model: Path | None, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        cmd = [*retailsim_cmd(), "serve", str(dataset), "--host", HOST, "--port", str(self.port)]
        cmd += ["--log-level", "warning", "--max-batch", "1000"]
        if model is not None:
            cmd += ["--model", str(model)]
        self.cmd = cmd
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        self.proc = subprocess.Popen(self.cmd, env=self.env, start_new_session=True)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.__exit__(None, None, None)
        raise RuntimeError("the server did not become healthy in 180 s")

    def __exit__(self, *exc: object) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0–1) by linear interpolation."""
    if not values:
        return float("nan")
    s = sorted(values)
    pos = (len(s) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def run_phase(
    name: str,
    url: str,
    make_body: Callable[[int], dict[str, Any]],
    *,
    requests: int,
    seconds: float,
    concurrency: int,
    warmup: int,
) -> dict[str, Any]:
    """Send up to ``requests`` POSTs (stopping after ``seconds``) from ``concurrency`` clients."""
    with httpx.Client(timeout=60) as c:
        for i in range(warmup):
            r = c.post(url, json=make_body(i))
            r.raise_for_status()
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = iter(range(requests))
    stop_at = time.monotonic() + seconds

    def worker() -> None:
        nonlocal errors
        with httpx.Client(timeout=60) as c:
            while time.monotonic() < stop_at:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                body = make_body(i)
                t0 = time.perf_counter()
                r = c.post(url, json=body)
                dt = time.perf_counter() - t0
                with lock:
                    latencies.append(dt)
                    if r.status_code != 200:
                        errors += 1

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    n = len(latencies)
    return {
        "phase": name,
        "concurrency": concurrency,
        "requests": n,
        "errors": errors,
        "wall_s": round(wall, 3),
        "req_per_s": round(n / wall, 1) if wall > 0 else None,
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "max_ms": round(max(latencies) * 1000, 2) if latencies else None,
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2) if latencies else None,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", nargs="?", type=Path, help="Dataset folder (with --model, or a champion).")
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--preset", default=None, help="Generate this preset and train a fast model instead.")
    ap.add_argument("--requests", type=int, default=300, help="Most requests per /predict phase.")
    ap.add_argument("--score-requests", type=int, default=30, help="Most requests per /score phase.")
    ap.add_argument("--basket-requests", type=int, default=20, help="Most /predict calls with a basket.")
    ap.add_argument("--batch", type=int, default=1000, help="Customer ids per /score request.")
    ap.add_argument("--seconds", type=float, default=30, help="Most seconds per phase.")
    ap.add_argument("--concurrency", type=int, default=4, help="Clients in the throughput phases.")
    ap.add_argument("--json", type=Path, default=None, help="Also write the results here.")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench_api_") as tmp:
        if args.preset:
            dataset, model = prepare(args.preset, Path(tmp))
        elif args.dataset:
            dataset, model = args.dataset, args.model
        else:
            ap.error("give a DATASET or --preset")
        with Server(dataset, model) as srv:
            health = httpx.get(f"{srv.url}/health", timeout=10).json()
            ids = _customer_ids(dataset)
            rng = random.Random(0)
            pick = [rng.choice(ids) for _ in range(max(args.requests, 1) + 50)]
            batches = [rng.sample(ids, min(args.batch, len(ids))) for _ in range(3)]

            def predict_body(i: int) -> dict[str, Any]:
                return {"customer_id": pick[i % len(pick)]}

            def score_body(i: int) -> dict[str, Any]:
                return {"customer_ids": batches[i % len(batches)]}

            store, products = _catalogue(dataset)

            def basket_body(i: int) -> dict[str, Any]:
                items = [
                    {"product_id": products[(i + k) % len(products)], "quantity": 1 + k} for k in range(3)
                ]
                return {"customer_id": pick[i % len(pick)], "today": {"store_id": store, "items": items}}

            common = {"seconds": args.seconds, "warmup": 5}
            results = [
                run_phase("predict", f"{srv.url}/predict", predict_body, requests=args.requests, concurrency=1,
                          **common),
                run_phase("predict", f"{srv.url}/predict", predict_body, requests=args.requests,
                          concurrency=args.concurrency, **common),
                run_phase(f"score x{len(batches[0])}", f"{srv.url}/score", score_body,
                          requests=args.score_requests, concurrency=1, **common),
                run_phase(f"score x{len(batches[0])}", f"{srv.url}/score", score_body,
                          requests=args.score_requests, concurrency=min(args.concurrency, 2), **common),
                run_phase("predict+basket", f"{srv.url}/predict", basket_body, requests=args.basket_requests,
                          concurrency=1, seconds=args.seconds, warmup=1),
            ]  # fmt: skip
    conditions = {
        "machine": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "dataset": str(dataset),
        "customers": len(ids),
        "model": health.get("model_id"),
        "client": "httpx, same machine, keep-alive",
    }
    print(json.dumps(conditions, indent=1))
    print(f"{'phase':<16}{'conc':>5}{'n':>6}{'err':>5}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for r in results:
        print(
            f"{r['phase']:<16}{r['concurrency']:>5}{r['requests']:>6}{r['errors']:>5}{r['req_per_s']:>9}"
            f"{r['p50_ms']:>9}{r['p99_ms']:>9}{r['max_ms']:>9}"
        )
    single = results[0]["p99_ms"]
    print(f"single-prediction p99 = {single} ms (goal < 50 ms): {'met' if single < 50 else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps({"conditions": conditions, "results": results}, indent=1) + "\n")
    return 0


def _catalogue(dataset: Path) -> tuple[int, list[int]]:
    from retailsim.storage.dataset import Dataset

    ds = Dataset(dataset)
    store = int(ds.read("stores", ["store_id"]).column(0).to_pylist()[0])
    products = [int(v) for v in ds.read("products", ["product_id"]).column(0).to_pylist()[:50]]
    return store, products


def _customer_ids(dataset: Path) -> list[int]:
    from retailsim.storage.dataset import Dataset

    tbl = Dataset(dataset).read("customers", ["customer_id"])
    return [int(v) for v in tbl.column("customer_id").to_pylist()]


if __name__ == "__main__":
    sys.exit(main())
