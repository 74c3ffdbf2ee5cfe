"""A database that cannot be reached or opened, an unsupported database URL or a data dir that
cannot be written: every command that opens the database exits 2 with one line saying what is
wrong and which variable to check, without a traceback and without the URL's password."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from replaylink.cli import app
from replaylink.config import ENV_PREFIX, environment_without_settings
from tests.conftest import PG_ADMIN_URL, TEST_ENCRYPTION, TEST_SECRET
from tests.peers.common import free_port

BIN = Path(sys.executable).with_name("replaylink")
PASSWORD = "hunter2-do-not-print"

COMMANDS = [
    ["worker"],
    ["db", "upgrade"],
    ["db", "current"],
    ["purge"],
    ["project", "list"],
    ["apikey", "create"],
]


@dataclass
class Case:
    env: dict[str, str]
    says: list[str]
    """What the one line names: the problem and the variable to check."""


def _unreachable(_: Path) -> Case:
    return Case(
        {"REPLAYLINK_DATABASE_URL": f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/nope"},
        [
            "Cannot connect to the database at postgresql://postgres:***@127.0.0.1:1/nope",
            "(connection refused)",
            "REPLAYLINK_DATABASE_URL",
        ],
    )


def _unsupported_scheme(_: Path) -> Case:
    return Case(
        {"REPLAYLINK_DATABASE_URL": f"mysql://x:{PASSWORD}@y/z"},
        ["REPLAYLINK_DATABASE_URL: mysql:// is not supported", "postgresql://"],
    )


def _not_a_url(_: Path) -> Case:
    return Case(
        {"REPLAYLINK_DATABASE_URL": f"nonsense {PASSWORD}"},
        ["REPLAYLINK_DATABASE_URL: not a database URL", "sqlite:///"],
    )


def _data_dir_under_a_file(tmp_path: Path) -> Case:
    (tmp_path / "afile").write_text("")
    return Case(
        {"REPLAYLINK_DATA_DIR": str(tmp_path / "afile" / "sub")},
        ["REPLAYLINK_DATA_DIR: cannot create", str(tmp_path / "afile" / "sub"), "(Not a directory)"],
    )


def _database_file_is_a_directory(tmp_path: Path) -> Case:
    (tmp_path / "data" / "replaylink.db").mkdir(parents=True)
    return Case(
        {"REPLAYLINK_DATA_DIR": str(tmp_path / "data")},
        [
            f"Cannot open the SQLite database {tmp_path / 'data' / 'replaylink.db'}",
            "(unable to open database file)",
            "REPLAYLINK_DATA_DIR",
        ],
    )


CASES: dict[str, Callable[[Path], Case]] = {
    "unreachable": _unreachable,
    "unsupported_scheme": _unsupported_scheme,
    "not_a_url": _not_a_url,
    "data_dir_under_a_file": _data_dir_under_a_file,
    "database_file_is_a_directory": _database_file_is_a_directory,
}


def _env(case: Case, tmp_path: Path, *, env_keys: bool = True) -> dict[str, str]:
    env = dict(case.env)
    env.setdefault("REPLAYLINK_DATA_DIR", str(tmp_path / "unused-data"))
    if env_keys:
        env.update(REPLAYLINK_SECRET_KEY=TEST_SECRET, REPLAYLINK_ENCRYPTION_KEY=TEST_ENCRYPTION)
    return env


def _assert_one_clear_line(code: int, output: str, case: Case) -> None:
    assert code == 2, output
    lines = output.strip().splitlines()
    assert 1 <= len(lines) <= 2, output
    assert lines[0].startswith("error: "), output
    for words in case.says:
        assert words in output, output
    assert "Traceback" not in output
    assert PASSWORD not in output


def _invoke(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], args: list[str]) -> tuple[int, str]:
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.output


def _subprocess(env: dict[str, str], args: list[str]) -> tuple[int, str]:
    done = subprocess.run(
        [str(BIN), *args],
        env={**environment_without_settings(), **env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout == ""
    return done.returncode, done.stderr


@pytest.mark.parametrize(
    ("name", "command"),
    [
        pytest.param(name, command, id=f"{name}-{' '.join(command)}")
        for name in CASES
        for command in COMMANDS
        # db current creates nothing: a data dir without a database is an empty database to it
        if (name, command) != ("data_dir_under_a_file", ["db", "current"])
    ],
)
def test_each_command_exits_2_with_one_line(
    name: str, command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CASES[name](tmp_path)
    _assert_one_clear_line(*_invoke(monkeypatch, _env(case, tmp_path), command), case)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("command", [["serve", "--port", "{port}"], ["db", "upgrade"]], ids=" ".join)
def test_the_installed_command_prints_no_traceback(name: str, command: list[str], tmp_path: Path) -> None:
    case = CASES[name](tmp_path)
    args = [arg.replace("{port}", str(free_port())) for arg in command]
    _assert_one_clear_line(*_subprocess(_env(case, tmp_path), args), case)


def test_a_data_dir_that_cannot_hold_the_generated_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = _data_dir_under_a_file(tmp_path)
    for command in (["project", "list"], ["db", "upgrade"]):
        _assert_one_clear_line(*_invoke(monkeypatch, _env(case, tmp_path, env_keys=False), command), case)
    assert (tmp_path / "afile").is_file()


@pytest.mark.postgres
@pytest.mark.parametrize("command", [["db", "upgrade"], ["serve", "--port", "{port}"], ["worker"], ["purge"]])
def test_a_missing_postgresql_database(pg_schema_url: str, command: list[str], tmp_path: Path) -> None:
    missing = f"rl_missing_{uuid.uuid4().hex[:8]}"
    url = make_url(PG_ADMIN_URL).set(drivername="postgresql", password=PASSWORD, database=missing)
    case = Case(
        {"REPLAYLINK_DATABASE_URL": url.render_as_string(hide_password=False)},
        [
            f"Cannot connect to the database at {url.render_as_string(hide_password=True)}",
            f'database "{missing}" does not exist',
            "REPLAYLINK_DATABASE_URL",
        ],
    )
    args = [arg.replace("{port}", str(free_port())) for arg in command]
    _assert_one_clear_line(*_subprocess(_env(case, tmp_path), args), case)
