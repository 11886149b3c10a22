"""What can go wrong with the shared store, sorted by what the caller should do about it."""

from __future__ import annotations

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


class StoreNotInitialized(StoreError):
    pass


class StoreOutdated(StoreError):
    pass


def redact_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


@contextmanager
def translate_errors(url: str) -> Iterator[None]:
    """Driver errors become StoreUnavailable with a message a reviewer can act on."""
    try:
        yield
    except (exc.OperationalError, exc.InterfaceError) as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        raise StoreUnavailable(f"cannot reach the store {redact_url(url)}: {reason}") from error
