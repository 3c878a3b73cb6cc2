"""The ingress's routes: one `APIRouter` per resource, each given the `IngressService`."""

from bus.ingress.routes.deliveries import router as deliveries_router
from bus.ingress.routes.events import router as events_router
from bus.ingress.routes.health import router as health_router
from bus.ingress.routes.problems import router as problems_router
from bus.ingress.routes.pull import router as pull_router

__all__ = ["deliveries_router", "events_router", "health_router", "problems_router", "pull_router"]
