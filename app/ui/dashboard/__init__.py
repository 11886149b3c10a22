"""The Dashboard tab: metrics, calibration advice, drift alerts, agreement, shadow mode."""

from app.ui.dashboard.dashboard import Dashboard

__all__ = ["Dashboard"]
