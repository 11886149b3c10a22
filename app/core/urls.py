"""Store URLs without their secrets: for settings, messages and logs."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url


def has_password(url: str) -> bool:
    parsed = make_url(url)
    return bool(parsed.password) or "password" in parsed.query


def bare_url(url: str) -> URL:
    # URL.set() ignores None, so set(password=None) keeps the password; SQLAlchemy documents
    # _replace for clearing a field. libpq also reads ?password=..., which must go as well.
    return make_url(url)._replace(password=None).difference_update_query(["password"])


def url_without_password(url: str) -> str:
    """The URL to store in settings or remember a store by: no password anywhere in it."""
    return bare_url(url).render_as_string(hide_password=False)


def display_url(url: str) -> str:
    """The URL for messages and logs: no password, whether in the userinfo or the query."""
    return bare_url(url).render_as_string(hide_password=True)


def url_with_password(url: str, password: str) -> str:
    """The engine URL with the password in it. Only for create_engine: never log, show or store
    it (use `display_url`)."""
    return bare_url(url).set(password=password).render_as_string(hide_password=False)


def password_of(url: str) -> str | None:
    parsed = make_url(url)
    if parsed.password:
        return str(parsed.password)
    query = parsed.query.get("password")
    if isinstance(query, tuple):
        query = query[-1] if query else None
    return query or None
