"""Exception tree. Every error a user can cause is a :class:`RetailsimError` with one clear message."""

from __future__ import annotations


class RetailsimError(Exception):
    """Base class of every error retailsim raises on purpose."""


class ConfigError(RetailsimError):
    """A configuration value is missing, unknown or out of range."""


class OutputExistsError(RetailsimError):
    """The output folder exists and ``overwrite`` was not requested."""


class DatasetError(RetailsimError):
    """A dataset folder is missing, incomplete or does not match the schema."""


class InputDataError(RetailsimError):
    """A user-supplied file has a bad value. The message names file, row and column."""

    def __init__(
        self, message: str, *, file: str | None = None, row: int | None = None, column: str | None = None
    ) -> None:
        where = ", ".join(
            part
            for part in (
                f"file {file}" if file else "",
                f"row {row}" if row is not None else "",
                f"column {column!r}" if column else "",
            )
            if part
        )
        super().__init__(f"{where}: {message}" if where else message)
        self.file, self.row, self.column = file, row, column
