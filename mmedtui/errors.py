"""Typed errors. A ``UserError`` is the user's to fix: the CLI prints its one line and exits 2."""


class UserError(Exception):
    """Bad input or usage (missing file, unreadable image, malformed config). Exit code 2."""


class ImageError(UserError):
    """An input image could not be read safely."""


class ConfigError(UserError):
    """A panel, profile or config file is malformed."""


class DataError(UserError):
    """A dataset is missing or malformed beyond recovery."""


class DamagedData(DataError):
    """A data file that is there but cannot be read (truncated, not UTF-8, empty, not the expected shape): unlike a
    missing benchmark, which the bench reports and skips, this stops the run naming the file."""


class BackendError(Exception):
    """A model backend failed (timeout, HTTP error, garbage). Callers degrade, they do not crash."""


def error_line(exc: BaseException, limit: int | None = 200, typed: bool = True) -> str:
    """An exception as one short line for a message: its first line of text, cut to ``limit`` characters (None:
    whole), after its type name (``typed``); the type name alone when it has no text."""
    lines = str(exc).strip().splitlines()
    if not lines:
        return type(exc).__name__
    text = lines[0].strip()
    text = text if limit is None or len(text) <= limit else text[: limit - 1] + "…"
    return f"{type(exc).__name__}: {text}" if typed else text
