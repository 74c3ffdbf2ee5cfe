"""ReplayLink backend SDK: put the browser's session token on your logs, exceptions and Sentry events.

Only the standard library is imported by this package and by ``context``, ``headers``, ``marker``,
``logging``, ``asgi``, ``wsgi``, ``structlog`` and ``outbound``; ``django``, ``sentry`` and
``celery`` import their framework when you import them.

The integrations are also attributes of the package, imported on first use (PEP 562):
``import replaylink_sdk`` then ``replaylink_sdk.logging.install()`` imports ``replaylink_sdk.logging``
at that point, and ``replaylink_sdk.django`` imports Django only when it is first used.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

from .context import get_token, is_plausible_token, use_token
from .headers import HEADER
from .marker import DEFAULT_PREFIX, MARKER

if TYPE_CHECKING:  # for type checkers only: at run time each is imported by __getattr__ on first use
    from . import asgi as asgi
    from . import celery as celery
    from . import django as django
    from . import logging as logging
    from . import outbound as outbound
    from . import sentry as sentry
    from . import structlog as structlog
    from . import wsgi as wsgi

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

# Not in __all__: ``from replaylink_sdk import *`` must not import every framework.
_SUBMODULES = frozenset({"asgi", "celery", "django", "logging", "outbound", "sentry", "structlog", "wsgi"})


def _import_submodule(name: str) -> ModuleType:
    """``replaylink_sdk.<integration>``: imports the submodule the first time it is used."""
    if name in _SUBMODULES:
        # The import also sets it as an attribute of the package, so this runs once per submodule.
        # A framework that is not installed raises ImportError here, as `import replaylink_sdk.django` would.
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if not TYPE_CHECKING:
    # Hidden from type checkers, which see the submodules imported above instead (and flag unknown names).
    __getattr__ = _import_submodule


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBMODULES)
