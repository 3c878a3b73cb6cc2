"""The authenticated HTTP ingress: `create_app()` and its API keys."""

from bus.ingress.app import create_app

__all__ = ["create_app"]
