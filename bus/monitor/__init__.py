"""The operators' monitor: periodic lag scans, Prometheus `/metrics` and a live dashboard."""

from bus.monitor.app import create_app, serve
from bus.monitor.watch import DeadLetterCount, LagMonitor, MonitorState

__all__ = ["DeadLetterCount", "LagMonitor", "MonitorState", "create_app", "serve"]
