"""Fixed units of work. A shard is a block of ``shard_customers`` customers (with the anonymous shoppers of their
stores) drawing from its own random streams; a task simulates ``shards_per_task`` consecutive shards and writes
them together (one file per table, and per month for transactions and lines); the "dimensions" task writes
stores, products, promotions and the calendar. Each task depends only on the config and its index, so any
executor — a local process pool or a Dask cluster — produces the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from retailsim import schema
from retailsim.config import SimConfig
from retailsim.generate import shopping
from retailsim.generate.calendar import integrate, invert
from retailsim.generate.population import Customers, build_customers, draw_traits, truth_table
from retailsim.generate.world import World, build_world
from retailsim.rng import stream
from retailsim.storage.files import EXTENSIONS, FileFormat, FileRecord, labels, month_slices, write_table

TXN_ID_BLOCK = 10_000_000_000  # txn_id = (shard + 1) * block + rank within the shard
DIMENSIONS = -1  # the task index of the dimension tables


@dataclass(frozen=True)
class Task:
    """Everything a worker needs: plain data, cheap to send to another process or machine."""

    config_json: str
    task: int  # DIMENSIONS, or 0 .. config.n_tasks - 1
    out_dir: str
    fmt: FileFormat = "parquet"


@dataclass
class TaskResult:
    task: int
    files: list[FileRecord] = field(default_factory=list)
    lines: int = 0


def plan(config: SimConfig, out_dir: Path, fmt: FileFormat) -> list[Task]:
    cj = config.model_dump_json()
    return [Task(cj, t, str(out_dir), fmt) for t in range(DIMENSIONS, config.n_tasks)]


def task_shards(config: SimConfig, task: int) -> range:
    """The shards that ``task`` simulates."""
    first = task * config.shards_per_task
    return range(first, min(first + config.shards_per_task, config.n_shards))


@dataclass(frozen=True)
class PendingFile:
    """A table ready to be written: simulation and writing are separate steps, so an executor may overlap them."""

    table: pa.Table
    relpath: str
    table_name: str
    fmt: FileFormat


@dataclass
class PreparedTask:
    """A task's simulated tables, not yet written."""

    task: int
    root: Path
    pending: list[PendingFile]
    lines: int = 0

    def write(self) -> TaskResult:
        files = [write_table(p.table, self.root, p.relpath, p.table_name, p.fmt) for p in self.pending]
        return TaskResult(self.task, files, self.lines)


def prepare_task(task: Task) -> PreparedTask:
    """Simulate one task's tables (the CPU-bound half of :func:`run_task`)."""
    cfg = SimConfig.model_validate_json(task.config_json)
    world = build_world(cfg)
    root = Path(task.out_dir)
    if task.task == DIMENSIONS:
        return PreparedTask(DIMENSIONS, root, _dimension_files(world, task.fmt))
    return _task_files(world, task.task, root, task.fmt)


def run_task(task: Task) -> TaskResult:
    """Run one task (the function an executor maps): simulate, then write."""
    return prepare_task(task).write()


def _part(shard: int, fmt: FileFormat) -> str:
    return f"part-{shard:05d}{EXTENSIONS[fmt]}"


def _dimension_files(world: World, fmt: FileFormat) -> list[PendingFile]:
    dims = (
        ("stores", world.stores.table),
        ("products", world.products.table),
        ("promotions", world.promotions.table),
    )
    pending = [PendingFile(t, f"{name}/{_part(0, fmt)}", name, fmt) for name, t in dims]
    days = (np.datetime64(world.start, "D") + np.arange(world.n_days)).astype("datetime64[D]")
    cal = pa.table(
        {"date": pa.array(days, pa.date32()), "intensity": pa.array(world.intensity)},
        schema=schema.CALENDAR_TRUTH.arrow_schema(),
    )
    pending.append(PendingFile(cal, f"truth/calendar/{_part(0, 'parquet')}", "calendar", "parquet"))
    return pending


@dataclass
class ShardData:
    """The tables of one shard before they are written (also used by tests and the oracle's Monte Carlo)."""

    customers: Customers
    transactions: pa.Table
    lines: pa.Table


def simulate_shard(world: World, shard: int) -> ShardData:
    cfg = world.config
    first = shard * cfg.shard_customers
    n = min(cfg.shard_customers, cfg.customers.count - first)
    cust = build_customers(world, shard, first, n)
    tr = cust.traits
    rng = stream(cfg.seed, "visits", shard)
    shopper, t = shopping.draw_visit_times(world, tr, cust.active_from, cust.churn_time, rng)
    # new customers make their first purchase when they sign up
    new = np.flatnonzero(cust.is_new)
    if cfg.customers.welcome.boost > 1:  # the welcome burst has its own stream: nothing else changes
        wrng = stream(cfg.seed, "welcome", shard)
        w_shopper, w_t = shopping.draw_welcome_visits(
            world, tr.subset(new), cust.signup_time[new], cust.churn_time[new], wrng
        )
        shopper = np.concatenate([shopper, new[w_shopper]])
        t = np.concatenate([t, w_t])
    shopper = np.concatenate([shopper, new])
    t = np.concatenate([t, cust.signup_time[new]])
    day = np.floor(t).astype(np.int64)
    store = shopping.choose_stores(world, tr, shopper, day, rng)
    first_visit = np.zeros(len(shopper), bool)
    first_visit[len(shopper) - len(new) :] = True
    online = np.flatnonzero(world.stores.is_online)
    if len(online):
        forced_online = first_visit & cust.signup_online[shopper]
        store = np.where(forced_online, online[0], np.where(first_visit, tr.home_store[shopper], store))
    else:
        store = np.where(first_visit, tr.home_store[shopper], store)

    # anonymous shoppers of the same stores
    arng = stream(cfg.seed, "anonymous", shard)
    share = cfg.anonymous.share
    n_anon = int(arng.poisson(share / (1 - share) * len(shopper))) if share > 0 and len(shopper) else 0
    anon_home = tr.home_store[arng.integers(0, n, size=n_anon)] if n_anon else np.zeros(0, np.int64)
    anon = draw_traits(world, arng, n_anon, anon_home, anonymous=True)
    lo = np.maximum(world.stores.opened_day[anon_home], 0).astype(float)
    c_lo = integrate(world.cum, world.intensity, lo)
    at = invert(world.cum, world.intensity, c_lo + arng.random(n_anon) * (world.cum[-1] - c_lo))
    a_day = np.minimum(np.floor(at).astype(np.int64), world.n_days - 1)
    a_store = shopping.choose_stores(world, anon, np.arange(n_anon), a_day, arng)

    # every visit of the shard — card holders, then anonymous shoppers (trait rows n, n+1, ...) — in time order,
    # so baskets come out already grouped in header order
    everyone = tr.concat(anon)
    who = np.concatenate([shopper, n + np.arange(n_anon)])
    day = np.concatenate([day, a_day])
    store = np.concatenate([store, a_store])
    trng = stream(cfg.seed, "times", shard)
    secs = shopping.time_of_day_seconds(world, store, trng)
    ts_s = day * 86400 + secs
    # stable order by time: sorting unique keys (time, position) is several times faster than a stable argsort
    n_visits = len(who)
    order = np.sort(ts_s * max(n_visits, 1) + np.arange(n_visits)) % max(n_visits, 1)
    who, day, store, ts_s = who[order], day[order], store[order], ts_s[order]
    pay, channel = shopping.payment_and_channel(world, store, trng)
    b = shopping.fill_baskets(world, everyone, who, day, store, stream(cfg.seed, "baskets", shard))

    txn_id = (shard + 1) * TXN_ID_BLOCK + np.arange(1, n_visits + 1, dtype=np.int64)
    cust_ids = cust.table.column("customer_id").to_numpy()
    is_anon = who >= n
    cid = cust_ids[np.minimum(who, max(n - 1, 0))] if n else np.zeros(n_visits, np.int64)
    # lines are grouped by visit (every visit has >= 1 line): exact integer sums per visit
    first_line = np.cumsum(b.n_lines) - b.n_lines
    gross = np.add.reduceat(b.quantity * b.price_cents, first_line) if n_visits else np.zeros(0, np.int64)
    disc = np.add.reduceat(b.discount_cents, first_line) if n_visits else np.zeros(0, np.int64)
    n_items = np.add.reduceat(b.quantity, first_line) if n_visits else np.zeros(0, np.int64)
    ts = (np.datetime64(world.start, "s") + ts_s).astype("datetime64[s]")
    txns = pa.table(
        {
            "txn_id": pa.array(txn_id, pa.int64()),
            "customer_id": pa.array(cid, pa.int64(), mask=is_anon),
            "store_id": pa.array(store + 1, pa.int32()),
            "txn_ts": pa.array(ts, pa.timestamp("ms")),
            "channel": labels(channel, schema.CHANNELS),
            "payment_method": labels(pay, schema.PAYMENT_METHODS),
            "n_lines": pa.array(b.n_lines, pa.int32()),
            "n_items": pa.array(n_items, pa.int32()),
            "gross_amount": pa.array(gross / 100, pa.float64()),
            "discount_amount": pa.array(disc / 100, pa.float64()),
            "total_amount": pa.array((gross - disc) / 100, pa.float64()),
        },
        schema=schema.TRANSACTIONS.arrow_schema(),
    )
    promo = b.promotion
    lines = pa.table(
        {
            "txn_id": pa.array(np.repeat(txn_id, b.n_lines), pa.int64()),
            "line_no": pa.array(b.line_no, pa.int32()),
            "product_id": pa.array(b.product + 1, pa.int32()),
            "quantity": pa.array(b.quantity, pa.int32()),
            "unit_price": pa.array(b.price_cents / 100, pa.float64()),
            "discount_pct": pa.array(b.discount_pct, pa.float64()),
            "discount_amount": pa.array(b.discount_cents / 100, pa.float64()),
            "promotion_id": pa.array(promo + 1, pa.int32(), mask=promo < 0),
            "line_amount": pa.array(b.amount_cents / 100, pa.float64()),
        },
        schema=schema.TRANSACTION_LINES.arrow_schema(),
    )
    return ShardData(cust, txns, lines)


def _task_files(world: World, task: int, root: Path, fmt: FileFormat) -> PreparedTask:
    """The files of ``task``: its shards one after another (rows in shard order, each shard's transactions and
    lines in time order), transactions and lines cut by month."""
    shards = [simulate_shard(world, s) for s in task_shards(world.config, task)]
    res = PreparedTask(task, root, [], lines=sum(d.lines.num_rows for d in shards))
    part = _part(task, fmt)
    customers = pa.concat_tables([d.customers.table for d in shards])
    truth = pa.concat_tables([truth_table(world, d.customers) for d in shards])
    res.pending.append(PendingFile(customers, f"customers/{part}", "customers", fmt))
    res.pending.append(
        PendingFile(truth, f"truth/customer_truth/{_part(task, 'parquet')}", "customer_truth", "parquet")
    )
    by_month: dict[str, tuple[list[pa.Table], list[pa.Table]]] = {}
    for d in shards:
        for label, txns, lines in _months(d):
            got = by_month.setdefault(label, ([], []))
            got[0].append(txns)
            got[1].append(lines)
    for label in sorted(by_month):
        txns, lines = by_month[label]
        res.pending.append(
            PendingFile(pa.concat_tables(txns), f"transactions/month={label}/{part}", "transactions", fmt)
        )
        res.pending.append(
            PendingFile(
                pa.concat_tables(lines), f"transaction_lines/month={label}/{part}", "transaction_lines", fmt
            )
        )
    return res


def _months(data: ShardData) -> list[tuple[str, pa.Table, pa.Table]]:
    """``(YYYY-MM, transactions, lines)`` of each month of one shard (its rows are in time order)."""
    # lines follow their headers: a month's lines start where its first header's lines start
    line_start = np.r_[0, np.cumsum(data.transactions.column("n_lines").to_numpy())]
    return [
        (
            label,
            data.transactions.slice(a, z - a),
            data.lines.slice(line_start[a], line_start[z] - line_start[a]),
        )
        for label, a, z in month_slices(data.transactions.column("txn_ts"))
    ]
