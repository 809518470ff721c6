"""Expected errors: bad input or configuration the user fixes, reported as one message without a traceback."""

from __future__ import annotations

import contextlib
import logging
from typing import Iterator


class UserError(ValueError):
    """Bad input or configuration; its message says what is wrong and how to fix it. Entry points print it alone."""


class BackendConfigError(ValueError):
    """The backend cannot run as configured (missing weights, key, bad option): raised before any work."""


class RowRejected(ValueError):
    """A catalog row that cannot be planned; its message is the reason recorded in the manifest (the other rows run)."""


@contextlib.contextmanager
def configuration_checks() -> Iterator[None]:
    """Around the checks an entry point makes before any work (settings, options, the catalog's footer): a ValueError
    they raise (pydantic's, a settings group's, a backend's) says what is wrong with the input, so it becomes a
    UserError with the same message. Outside these checks a plain ValueError is a bug and keeps its traceback."""
    try:
        yield
    except UserError:
        raise
    except ValueError as error:
        raise UserError(str(error)) from None


def quote(value: object, limit: int = 80) -> str:
    """A value as an error message quotes it: never the whole of a huge list or blob, never a crash on deep nesting."""
    try:
        text = repr(value)
    except RecursionError:
        return f"a {type(value).__name__} nested too deeply to show"
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _names(cls: type) -> set[str]:
    return {cls.__name__}.union(*(_names(sub) for sub in cls.__subclasses__()))


class HideUserErrors(logging.Filter):
    """Drop log records about a UserError (a traceback, or a state naming it): the entry point says it once."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], UserError):
            return False
        message = record.getMessage()
        return not any(f"{name}(" in message or f"{name}:" in message for name in _names(UserError))


def hide_user_errors_in_logs(prefixes: tuple[str, ...]) -> None:
    """Attach HideUserErrors to the root's handlers and those of every logger under `prefixes`."""
    loggers = [logging.getLogger()] + [logger for name, logger in logging.root.manager.loggerDict.items()
                                       if name.startswith(prefixes) and isinstance(logger, logging.Logger)]
    for handler in {handler for logger in loggers for handler in logger.handlers}:
        if not any(isinstance(f, HideUserErrors) for f in handler.filters):
            handler.addFilter(HideUserErrors())
