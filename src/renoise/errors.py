"""The few exceptions renoise raises on purpose; the CLI turns each into a one-line message."""


class RenoiseError(Exception):
    """Base class: an error a user can act on, reported without a traceback."""


class DataError(RenoiseError, ValueError):
    """A dataset file is missing, truncated, corrupt or of the wrong shape."""


class ConfigError(RenoiseError, ValueError):
    """An experiment file or a run's parameters are invalid."""


class RunError(RenoiseError):
    """A run cannot start (missing inputs) or failed while executing."""


class LockedError(RenoiseError):
    """Another pipeline holds the experiment's lock."""


class DiskFullError(RenoiseError, OSError):
    """A file system (or the user's quota on it) filled up while renoise wrote a file; nothing half-written is left."""


def first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message, or its type's name where the message is empty: what a
    one-line error says of an exception raised by a library."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
