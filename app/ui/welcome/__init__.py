"""Choosing a store: the first-run welcome screen and the "Connect to store…" dialog."""

from app.ui.welcome.connection_dialog import ConnectionDialog

__all__ = ["ConnectionDialog"]
