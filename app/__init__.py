"""Signoff: the desktop reviewer for human-in-the-loop AI."""

__version__ = "0.1.0"
