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


@pytest.mark.usefixtures("env")
def test_project_create_checks_and_normalises_origins_as_the_api_does() -> None:
    bad = runner.invoke(app, ["project", "create", "Bad", "--origin", "notaurl"])
    assert bad.exit_code == 2
    lines = bad.output.strip().splitlines()
    assert len(lines) == 1, bad.output
    assert lines[0].startswith("error: --origin 'notaurl' is not an origin")
    assert "https://shop.example.com" in lines[0]  # what a valid one looks like
    assert json.loads(run("project", "list", "--json")) == []  # nothing created
    created = json.loads(
        run(
            "project", "create", "Shop", "--origin", "https://slash.example.com/", "--origin", " * ", "--json"
        )
    )
    assert created["allowed_origins"] == ["https://slash.example.com", "*"]
    anywhere = json.loads(run("project", "create", "Any", "--json"))
    assert anywhere["allowed_origins"] is None


def test_serve_refuses_a_taken_port_before_it_says_listening(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    monkeypatch.setenv("REPLAYLINK_DATA_DIR", str(tmp_path / "data"))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["serve", "--host", "127.0.0.1", "--port", str(port)])
        monkeypatch.setenv("REPLAYLINK_PORT", str(port))
        from_env = runner.invoke(app, ["serve", "--host", "127.0.0.1"])
    for answer in (result, from_env):
        assert answer.exit_code == 1, answer.output
        assert answer.output.strip().splitlines() == [
            f"error: Port {port} is in use on 127.0.0.1: stop what listens there, or pass --port or set "
            "REPLAYLINK_PORT to another port."
        ]
    assert not (tmp_path / "data").exists()  # checked before migrating or bootstrapping


def test_a_short_key_variable_is_a_bad_setting_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPLAYLINK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REPLAYLINK_ENCRYPTION_KEY", "abc")
    monkeypatch.delenv("REPLAYLINK_SECRET_KEY", raising=False)
    result = runner.invoke(app, ["project", "list"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: REPLAYLINK_ENCRYPTION_KEY: shorter than 16 characters; use a long random value"
    ]
    assert "abc" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_db_current_on_an_empty_data_dir_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from replaylink.store.migrate import head_revision

    data = tmp_path / "fresh"
    data.mkdir()
    monkeypatch.setenv("REPLAYLINK_DATA_DIR", str(data))
    for name in ("REPLAYLINK_DATABASE_URL", "REPLAYLINK_SECRET_KEY", "REPLAYLINK_ENCRYPTION_KEY"):
        monkeypatch.delenv(name, raising=False)
    out = run("db", "current")
    assert out.strip() == f"current: (empty database)  head: {head_revision()}"
    assert list(data.iterdir()) == []  # no key files, no database


def test_rejected_outcomes_are_listed_as_words() -> None:
    from collections import Counter

    from replaylink.cli import _rejected

    outcomes = Counter(matched=5, expired_in_grace=1, malformed=2, forged=1, no_token=0)
    assert _rejected(outcomes) == "forged 1, malformed 2"
    assert _rejected(Counter(matched=3)) == "none"
