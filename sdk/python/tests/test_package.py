"""``import replaylink_sdk`` then ``replaylink_sdk.<integration>.<name>``, as the README's setup lines do.

Each case runs in a fresh interpreter: this test process has imported every submodule and framework already.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import replaylink_sdk

# Each integration, the name its README line uses, and what importing it may import besides it.
INTEGRATIONS = {
    "asgi": ("SessionTokenMiddleware", set()),
    "celery": ("install", {"celery", "django"}),  # Celery itself imports Django when it is installed
    "django": ("SessionTokenMiddleware", {"django"}),
    "logging": ("install", set()),
    "outbound": ("Propagator", set()),
    "sentry": ("ReplayLinkIntegration", {"sentry_sdk"}),
    "structlog": ("SessionTokenProcessor", set()),
    "wsgi": ("SessionTokenMiddleware", set()),
}
FRAMEWORKS = {
    "aiohttp",
    "celery",
    "django",
    "flask",
    "httpx",
    "requests",
    "sentry_sdk",
    "starlette",
    "structlog",
}
EAGER = {"context", "headers", "marker"}  # imported by the package itself

REPORT = """
import json, sys
print(json.dumps(sorted(
    name for name in sys.modules
    if name.startswith("replaylink_sdk.") or name.split(".")[0] in {frameworks!r}
)))
"""


def imported_after(code: str, tmp_path: Path) -> set[str]:
    """The SDK submodules and frameworks in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    script = code + REPORT.format(frameworks=FRAMEWORKS)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def top_level(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules if not name.startswith("replaylink_sdk.")}


def test_the_list_is_every_submodule() -> None:
    package = Path(replaylink_sdk.__file__).parent
    modules = {path.stem for path in package.glob("*.py")} - {"__init__"}
    assert set(INTEGRATIONS) == modules - EAGER
    assert set(INTEGRATIONS) == replaylink_sdk._SUBMODULES


def test_import_alone_imports_no_integration_and_no_framework(tmp_path: Path) -> None:
    modules = imported_after("import replaylink_sdk", tmp_path)
    assert modules == {f"replaylink_sdk.{name}" for name in EAGER}


def test_star_import_imports_no_integration(tmp_path: Path) -> None:
    modules = imported_after("from replaylink_sdk import *", tmp_path)
    assert modules == {f"replaylink_sdk.{name}" for name in EAGER}


@pytest.mark.parametrize("submodule", sorted(INTEGRATIONS))
def test_integration_is_an_attribute_of_the_package(submodule: str, tmp_path: Path) -> None:
    name, frameworks = INTEGRATIONS[submodule]
    code = f"""
import replaylink_sdk
obj = replaylink_sdk.{submodule}.{name}
assert obj.__module__ == "replaylink_sdk.{submodule}", obj.__module__
import replaylink_sdk.{submodule} as direct
assert replaylink_sdk.{submodule} is direct
"""
    modules = imported_after(code, tmp_path)
    assert f"replaylink_sdk.{submodule}" in modules
    # Only the one integration, and only its own framework.
    others = {f"replaylink_sdk.{other}" for other in INTEGRATIONS if other != submodule}
    assert not modules & others
    assert top_level(modules) <= frameworks


def test_readme_lines_run(tmp_path: Path) -> None:
    """The README's table, each line against a stand-in where it needs an app or a framework call."""
    code = """
import replaylink_sdk
replaylink_sdk.logging.install()
replaylink_sdk.logging.uninstall()
app = lambda environ, start_response: []
app = replaylink_sdk.wsgi.SessionTokenMiddleware(app)
assert callable(replaylink_sdk.asgi.SessionTokenMiddleware)
assert callable(replaylink_sdk.structlog.SessionTokenProcessor())
assert replaylink_sdk.sentry.ReplayLinkIntegration().identifier
assert callable(replaylink_sdk.sentry.tag_event)
assert callable(replaylink_sdk.celery.install)
replaylink_sdk.outbound.Propagator(["billing.internal"])
"""
    imported_after(code, tmp_path)


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        replaylink_sdk.nope  # type: ignore[attr-defined]
    assert not hasattr(replaylink_sdk, "context_var")
    assert getattr(replaylink_sdk, "nope", None) is None


def test_dir_lists_the_integrations() -> None:
    names = dir(replaylink_sdk)
    assert set(INTEGRATIONS) <= set(names)
    assert set(replaylink_sdk.__all__) <= set(names)
