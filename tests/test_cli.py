"""The replaylink command line: projects, users, API keys, tokens, db."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from replaylink.cli import app
from tests.conftest import TEST_ENCRYPTION, TEST_SECRET

runner = CliRunner()


@pytest.fixture
def env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLAYLINK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("REPLAYLINK_DATABASE_URL", db_url)
    monkeypatch.setenv("REPLAYLINK_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("REPLAYLINK_ENCRYPTION_KEY", TEST_ENCRYPTION)


def run(*args: str, stdin: str | None = None) -> str:
    result = runner.invoke(app, list(args), input=stdin)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.usefixtures("env")
def test_project_create_and_list() -> None:
    created = json.loads(run("project", "create", "Shop", "--json"))
    assert created["name"] == "Shop" and created["project_key"]
    listed = json.loads(run("project", "list", "--json"))
    assert [p["project_key"] for p in listed] == [created["project_key"]]
    assert [p["id"] for p in listed] == [created["id"]]
    assert isinstance(created["id"], int)  # as GET /api/v1/projects answers, never "1"
    assert set(listed[0]) == set(created) == {"id", "name", "project_key", "allowed_origins", "created_at"}
    assert created["project_key"] in run("project", "list")


@pytest.mark.usefixtures("env")
def test_user_create_reads_the_password_from_stdin() -> None:
    assert "admin" in run(
        "user", "create", "ops@example.com", "--admin", "--password-stdin", stdin="s3cret-pass\n"
    )
    duplicate = runner.invoke(
        app, ["user", "create", "ops@example.com", "--password-stdin"], input="s3cret-pass\n"
    )
    assert duplicate.exit_code == 1
    assert "already exists" in duplicate.output
    short = runner.invoke(app, ["user", "create", "x@example.com", "--password-stdin"], input="short\n")
    assert short.exit_code == 1


@pytest.mark.usefixtures("env")
def test_apikey_create_scoped_and_unknown_project() -> None:
    project = json.loads(run("project", "create", "Shop", "--json"))
    key = json.loads(run("apikey", "create", "--project", str(project["id"]), "--json"))
    assert key["key"].startswith("rlk_") and key["project_id"] == project["id"]
    missing = runner.invoke(app, ["apikey", "create", "--project", "4242"])
    assert missing.exit_code == 1
    assert "no project 4242" in missing.output


@pytest.mark.usefixtures("env")
def test_token_mint_and_inspect() -> None:
    project = json.loads(run("project", "create", "Shop", "--json"))
    token = run("token", "mint", "--project", project["project_key"]).split()[-1]
    info = json.loads(run("token", "inspect", token, "--json"))
    assert info["status"] == "valid" and info["project_id"] == project["id"]
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    result = runner.invoke(app, ["token", "inspect", forged])
    assert result.exit_code == 2
    assert "forged" in result.output
    assert "malformed" in runner.invoke(app, ["token", "inspect", "hello"]).output


@pytest.mark.usefixtures("env")
def test_db_upgrade_and_current() -> None:
    assert "database at revision" in run("db", "upgrade")
    out = run("db", "current")
    assert out.split()[1] == out.split()[3]


def test_bad_key_file_exits_with_a_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLAYLINK_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("REPLAYLINK_SECRET_KEY", raising=False)
    (tmp_path / "secret_key").write_text("")
    result = runner.invoke(app, ["project", "list"])
    assert result.exit_code == 1
    assert "secret_key" in result.output and "REPLAYLINK_SECRET_KEY" in result.output


@pytest.mark.parametrize("command", [["serve"], ["worker"], ["project", "list"], ["token", "inspect", "x"]])
def test_bad_settings_print_one_line_per_variable_and_exit_2(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPLAYLINK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REPLAYLINK_PORT", "abc")
    monkeypatch.setenv("REPLAYLINK_LOG_LEVEL", "loud")
    monkeypatch.setenv("REPLAYLINK_SECRET_KEY", "short")  # checked later; never echoed
    result = runner.invoke(app, command)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines == [
        "error: REPLAYLINK_PORT: input should be a valid integer, unable to parse string as an integer",
        "error: REPLAYLINK_LOG_LEVEL: input should be 'debug', 'info', 'warning' or 'error'",
    ]
    assert "Traceback" not in result.output and "abc" not in result.output
    assert not (tmp_path / "replaylink.db").exists()
