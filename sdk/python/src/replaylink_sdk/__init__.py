"""ReplayLink backend SDK: put the browser's session token on your logs, exceptions and Sentry events.

Only the standard library is imported by this package and by ``context``, ``headers``, ``marker``,
``logging``, ``asgi``, ``wsgi``, ``structlog`` and ``outbound``; ``django``, ``sentry`` and
``celery`` import their framework when you import them.
"""

from .context import get_token, is_plausible_token, use_token
from .headers import HEADER
from .marker import DEFAULT_PREFIX, MARKER

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_PREFIX",
    "HEADER",
    "MARKER",
    "__version__",
    "get_token",
    "is_plausible_token",
    "use_token",
]
