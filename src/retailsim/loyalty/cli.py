"""Loyalty commands: the 'loyalty' group (issue: Loyalty tiers).

Commands only parse arguments and call :mod:`retailsim.loyalty`; every rule lives in the library.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from retailsim.loyalty.config import LoyaltyConfig
    from retailsim.loyalty.store import LoyaltyRun

loyalty_app = typer.Typer(
    name="loyalty",
    help="Loyalty tiers from behaviour: assign, replay every review with history, explain a customer.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DatasetArg = Annotated[Path, typer.Argument(help="Dataset folder (generated or imported).")]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Loyalty rules (YAML). Default: the stored rules, else built-in.",
        dir_okay=False,
    ),
]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", help="Override a rule: --set grace_months=1 --set mode=rank")
]


def _rules(config: Path | None, sets: list[str] | None, dataset: Path) -> LoyaltyConfig | None:
    from retailsim.loyalty.config import build_loyalty_config, load_loyalty_config
    from retailsim.loyalty.store import stored_config

    if config is not None:
        return load_loyalty_config(config, sets=sets)
    if sets:
        base = stored_config(dataset)
        return build_loyalty_config(base.model_dump(mode="json") if base else None, sets=sets)
    return None


def _print_run(run: LoyaltyRun, config: LoyaltyConfig, quiet: bool) -> None:
    from rich.table import Table

    from retailsim.cli import out
    from retailsim.loyalty.store import history_path

    if run.reviews_run:
        span = f"{len(run.reviews_run)} review(s) {run.reviews_run[0]} … {run.reviews_run[-1]}"
    else:
        span = "no new review"
    action = f"wrote {history_path(run.dataset)}" if run.wrote else "history unchanged"
    out.print(
        f"loyalty {run.kind}: {span}; {run.rows:,} spells for {run.customers:,} customers; {action} "
        f"({run.seconds:.1f} s)",
        highlight=False,
    )
    if run.note:
        out.print(f"  {run.note}", highlight=False)
    if quiet:
        return
    t = Table(title=f"Tier mix as of {run.to} ({config.mode} mode)", title_justify="left")
    t.add_column("tier")
    t.add_column("customers", justify="right")
    t.add_column("share", justify="right")
    t.add_column("rule")
    for row in run.mix.sort_values("tier_rank", ascending=False).itertuples():
        t.add_row(
            row.tier, f"{row.customers:,}", f"{100 * row.share:.1f}%", config.rule_text(int(row.tier_rank))
        )
    out.print(t)


@loyalty_app.command()
def assign(
    dataset: DatasetArg,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Date (YYYY-MM-DD). Default: last day with a transaction.")
    ] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No tier-mix table.")] = False,
) -> None:
    """Compute everyone's tier as of a date, bringing loyalty/tier_history.parquet up to it (incrementally)."""
    from retailsim.cli import fail
    from retailsim.errors import RetailsimError
    from retailsim.loyalty.store import assign as run_assign
    from retailsim.loyalty.store import stored_config

    try:
        cfg = _rules(config, set_, dataset)
        run = run_assign(dataset, as_of=as_of, config=cfg)
        _print_run(run, cfg or stored_config(dataset) or _default(), quiet)
    except RetailsimError as err:
        raise fail(str(err)) from None
    except KeyboardInterrupt:
        raise fail("interrupted; the previous tier history is intact", 130) from None


@loyalty_app.command()
def replay(
    dataset: DatasetArg,
    from_: Annotated[
        str | None,
        typer.Option(
            "--from", help="Programme start (YYYY-MM-DD). Default: configured, else first day of data."
        ),
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="Last day (YYYY-MM-DD). Default: last day with a transaction.")
    ] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No tier-mix table.")] = False,
) -> None:
    """Run every review between --from and --to and rewrite loyalty/tier_history.parquet (atomically)."""
    from retailsim.cli import fail
    from retailsim.errors import RetailsimError
    from retailsim.loyalty.store import replay as run_replay
    from retailsim.loyalty.store import stored_config

    try:
        cfg = _rules(config, set_, dataset)
        run = run_replay(dataset, start=from_, to=to, config=cfg)
        _print_run(run, stored_config(dataset) or _default(), quiet)
    except RetailsimError as err:
        raise fail(str(err)) from None
    except KeyboardInterrupt:
        raise fail("interrupted; the previous tier history is intact", 130) from None


def _default() -> LoyaltyConfig:
    from retailsim.loyalty.config import LoyaltyConfig

    return LoyaltyConfig()


@loyalty_app.command()
def explain(
    dataset: DatasetArg,
    customer_id: Annotated[int, typer.Argument(help="Customer id.")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Date (YYYY-MM-DD). Default: end of the stored history.")
    ] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Print why a customer has their tier: the rule, their metrics at the last review, grace, history."""
    from rich.table import Table

    from retailsim.cli import fail, out
    from retailsim.errors import RetailsimError
    from retailsim.loyalty.api import explain as run_explain

    try:
        cfg = _rules(config, set_, dataset)
        ex = run_explain(dataset, customer_id, as_of=as_of, config=cfg)
    except RetailsimError as err:
        raise fail(str(err)) from None
    lines = ex.summary()
    out.print(f"[bold]{lines[0]}[/]", highlight=False)
    for line in lines[1:]:
        out.print(f"  {line}", highlight=False)
    if len(ex.history):
        t = Table(title="Tier history (stored)", title_justify="left")
        for col in ("valid_from", "valid_to", "tier", "change", "reason"):
            t.add_column(col)
        for r in ex.history.itertuples():
            vt = "" if r.valid_to is None or str(r.valid_to) in ("NaT", "None") else str(r.valid_to)[:10]
            t.add_row(str(r.valid_from)[:10], vt or "current", r.tier, r.change, r.reason)
        out.print(t)
    if ex.reviews:
        t = Table(title="Reviews (replayed)", title_justify="left")
        for col in ("review", "spend", "visits", "qualifies", "tier"):
            t.add_column(col, justify="right" if col in ("spend", "visits") else "left")
        for r in ex.reviews[-12:]:
            names = ex.config.tier_names
            t.add_row(
                str(r["review_date"]),
                f"{r['window_spend']:,.2f}",
                str(r["window_visits"]),
                names[int(r["qualified_rank"])],  # type: ignore[call-overload]
                names[max(int(r["held_rank"]), 0)],  # type: ignore[call-overload]
            )
        out.print(t)


@loyalty_app.command()
def check(dataset: DatasetArg) -> None:
    """Check the stored tier history: no gaps, no overlaps, one current tier per customer."""
    from retailsim.cli import fail, out
    from retailsim.errors import RetailsimError
    from retailsim.loyalty.store import history_problems

    try:
        problems = history_problems(dataset)
    except RetailsimError as err:
        raise fail(str(err)) from None
    bad = sum(problems.values())
    out.print(", ".join(f"{k}: {v:,}" for k, v in problems.items()), highlight=False)
    if bad:
        raise fail(f"the tier history has {bad:,} broken spell(s)", 1)
    out.print("tier history OK: no gaps, no overlaps", highlight=False)


def register(app: typer.Typer) -> None:
    """Add this capability's commands to the root `retailsim` app."""
    app.add_typer(loyalty_app, name="loyalty")
