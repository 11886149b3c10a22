"""GUI-free core of Signoff: domain, validation, store, replica, sync and audit.

Nothing under this package may import Qt; tests/test_architecture.py enforces it.
"""
