"""``python -m retailsim`` and the ``retailsim`` console command."""

import gc


def main() -> None:
    """Console entry point: :func:`retailsim.cli.main` after making start-up cheaper.

    A command imports numpy, pyarrow, pydantic and typer — hundreds of thousands of long-lived objects and no
    garbage — and the interpreter's default threshold (a collection every 700 new objects) spends ~10% of that
    start-up in the cyclic garbage collector; a higher threshold lets it run ~100x less often, for the whole
    command (cycles are still collected, in larger batches).
    """
    gc.set_threshold(100_000, 10, 10)
    from retailsim.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
