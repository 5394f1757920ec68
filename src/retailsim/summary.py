"""The summary printed after ``generate`` (and by ``retailsim summary``): row counts and retail facts."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from retailsim.fidelity.facts import CORE_FACTS, core_facts
from retailsim.storage.dataset import Dataset


def _fmt(v: object) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:,.3f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def print_summary(ds: Dataset, console: Console) -> dict[str, object]:
    rows = Table(title=f"Dataset {ds.path} ({ds.format}, {ds.kind})", title_justify="left")
    rows.add_column("table")
    rows.add_column("rows", justify="right")
    rows.add_column("files", justify="right")
    for name, info in ds.manifest["tables"].items():
        rows.add_row(name, f"{info['rows']:,}", str(info["files"]))
    console.print(rows)
    facts = core_facts(ds)
    t = Table(title="Does it look like retail?", title_justify="left")
    t.add_column("fact")
    t.add_column("value", justify="right")
    for f in CORE_FACTS:
        t.add_row(f.label, _fmt(facts.get(f.id)))
    console.print(t)
    return facts
