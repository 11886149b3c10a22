"""What can go wrong with the shared store, sorted by what the caller should do about it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc
from sqlalchemy.engine import make_url


class StoreError(Exception):
    """The store cannot be used; the message says why and what to do."""


class StoreUnavailable(StoreError):
    """The store could not be reached (network, server down, file locked): transient."""


class StoreRefused(StoreError):
    """The store refused the data itself (constraint, type, permission): retrying the same
    request will fail again, so the caller must set it aside instead of retrying."""

    reason: str = ""  # the database's own words, without the URL


class StoreNotInitialized(StoreError):
    pass


class StoreOutdated(StoreError):
    pass


def redact_url(url: str) -> str:
    """The URL for messages and logs: a given password shows as ***, never in clear."""
    return make_url(url).difference_update_query(["password"]).render_as_string(hide_password=True)


# SQLite reports both "try again" and "this will never work" as OperationalError.
_SQLITE_TRANSIENT = ("locked", "busy", "unable to open", "disk i/o", "readonly database", "interrupted")
# Postgres states about the server, not the request, that psycopg files under InternalError: a
# server that takes no writes for now (a standby after a failover) and a session timed out.
_PG_TRANSIENT_STATES = ("25006", "25P03")


@contextmanager
def translate_errors(url: str) -> Iterator[None]:
    """Driver errors become StoreUnavailable (retry later) or StoreRefused (retrying the same
    request is pointless) with a message a reviewer can act on."""
    try:
        yield
    except exc.DBAPIError as error:
        reason = _reason(error)
        if is_transient(error):
            raise StoreUnavailable(f"cannot reach the store {redact_url(url)}: {reason}") from error
        refused = StoreRefused(f"the store {redact_url(url)} refused the request: {reason}")
        refused.reason = reason
        raise refused from error


def is_transient(error: exc.DBAPIError) -> bool:
    if error.connection_invalidated or isinstance(error, exc.InterfaceError):
        return True
    if getattr(error.orig, "sqlstate", None) in _PG_TRANSIENT_STATES:
        return True
    if not isinstance(error, exc.OperationalError):
        return False  # integrity, data, permission, programming errors: the request itself is bad
    if error.orig is not None and type(error.orig).__module__.startswith("sqlite3"):
        return any(word in str(error.orig).lower() for word in _SQLITE_TRANSIENT)
    return True  # Postgres OperationalError: connection lost, server shutting down, timeouts


def _reason(error: exc.DBAPIError) -> str:
    """The driver's own words, first line, without SQLAlchemy's "(module.Error)" and links."""
    source = error.orig if error.orig is not None else (error.__cause__ or error)
    lines = str(source).strip().splitlines() or [type(source).__name__]
    return re.sub(r"^\([\w.]+\)\s*", "", lines[0])
