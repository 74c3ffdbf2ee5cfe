"""The ``replaylink`` command: serve, worker, db, project, user, apikey, token, keys, import, demo."""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, SQLAlchemyError

from replaylink.config import BadSettings, ConfigError, Settings, load_settings
from replaylink.runtime import Runtime
from replaylink.store import accounts, auth_sessions, migrate
from replaylink.store.db import transaction
from replaylink.tokens import peek

app = typer.Typer(
    help="ReplayLink: backend errors on each recorded session's timeline.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
project_app = typer.Typer(help="Projects.", no_args_is_help=True)
user_app = typer.Typer(help="Dashboard users.", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys for /api/v1.", no_args_is_help=True)
token_app = typer.Typer(help="Debug session tokens.", no_args_is_help=True)
keys_app = typer.Typer(help="Encryption keys of stored credentials.", no_args_is_help=True)
replay_app = typer.Typer(help="Session recordings (the replay store).", no_args_is_help=True)
for sub, name in (
    (replay_app, "replay"),
    (keys_app, "keys"),
    (db_app, "db"),
    (project_app, "project"),
    (user_app, "user"),
    (apikey_app, "apikey"),
    (token_app, "token"),
):
    app.add_typer(sub, name=name)

WORKER_HEALTHCHECK_SECONDS = 30
"""How long ``serve --workers N`` lets a worker go without answering before restarting it."""


out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def fail(message: str, code: int = 1) -> typer.Exit:
    for line in message.splitlines() or [""]:
        err.print(f"[red]error:[/red] {escape(line)}", highlight=False)
    return typer.Exit(code)


def settings_or_exit() -> Settings:
    """The settings; wrong ``REPLAYLINK_*`` variables print one line each and exit 2 (usage error)."""
    try:
        return load_settings()
    except BadSettings as exc:
        raise fail(str(exc), code=2) from None


@app.callback()
def _check_settings() -> None:
    """ReplayLink: backend errors on each recorded session's timeline."""
    settings_or_exit()  # every command, before it does anything


@contextmanager
def runtime(*, migrate_sqlite: bool = False, require_current: bool = True) -> Iterator[Runtime]:
    """Settings, keys and database for one command; config problems exit with a clear message
    (a wrong setting, data dir or database URL, or a database that cannot be reached: status 2)."""
    settings = settings_or_exit()
    check_database_url(settings)
    try:
        settings.keys  # noqa: B018 - load (or generate) the keys now, so errors surface here
        rt = Runtime(settings)
        rt.replay_store  # noqa: B018 - a wrong REPLAYLINK_REPLAY_STORE stops here, not at the first batch
    except BadSettings as exc:  # e.g. a data dir that cannot be created
        raise fail(str(exc), code=2) from None
    except ConfigError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:  # the SQLite database's directory cannot be created
        raise fail(_cannot_create(settings, exc), code=2) from None
    try:
        if migrate_sqlite or require_current:
            connect_or_exit(rt.engine, settings)
        if migrate_sqlite and settings.is_sqlite:
            migrate.upgrade(rt.engine)
        elif require_current and not migrate.is_current(rt.engine):
            raise fail("The database schema is not current; run `replaylink db upgrade` first.")
        if require_current:
            _check_vault_keys(rt)
        yield rt
    finally:
        rt.close()


SUPPORTED_DATABASES = "sqlite:///<path> or postgresql://<user>:<password>@<host>/<database>"


def _shown_url(settings: Settings) -> str:
    """The database URL as the user gave it (or the default SQLite one), never with its password."""
    return make_url(settings.database_url or settings.sqlalchemy_url).render_as_string(hide_password=True)


def check_database_url(settings: Settings) -> None:
    """Exit 2 unless REPLAYLINK_DATABASE_URL names SQLite or PostgreSQL (through psycopg 3), before
    anything imports a driver that is not installed."""
    try:
        url = make_url(settings.sqlalchemy_url)
    except ArgumentError:  # never echo the value: it may hold a password
        raise fail(
            f"REPLAYLINK_DATABASE_URL: not a database URL; use {SUPPORTED_DATABASES}.", code=2
        ) from None
    backend, _, driver = url.drivername.partition("+")
    if (backend, driver) in (("sqlite", ""), ("sqlite", "pysqlite"), ("postgresql", "psycopg")):
        return
    raise fail(
        f"REPLAYLINK_DATABASE_URL: {url.drivername}:// is not supported; use {SUPPORTED_DATABASES}.",
        code=2,
    )


def connect_or_exit(engine: Engine, settings: Settings) -> None:
    """Open (and return to the pool) one connection; exit 2 saying why when that fails."""
    try:
        with engine.connect():
            pass
    except DBAPIError as exc:
        raise fail(_cannot_connect(settings, exc), code=2) from None


def _cannot_connect(settings: Settings, exc: Exception) -> str:
    detail = str(getattr(exc, "orig", None) or exc).strip()
    reason = detail.splitlines()[0] if detail else exc.__class__.__name__
    reason = reason.rsplit(" failed: ", 1)[-1].removeprefix("FATAL:").strip()  # psycopg's prefixes
    reason = reason[:1].lower() + reason[1:]
    if settings.is_sqlite:
        path = make_url(settings.sqlalchemy_url).database
        if settings.database_url is None:
            hint = "REPLAYLINK_DATA_DIR must be a writable directory (or set REPLAYLINK_DATABASE_URL)"
        else:
            hint = "check REPLAYLINK_DATABASE_URL: it must name a file in a writable directory"
        return f"Cannot open the SQLite database {path} ({reason}): {hint}."
    if "does not exist" in reason:
        hint = "check REPLAYLINK_DATABASE_URL, or create the database"
    elif "authentication" in reason or "password" in reason:
        hint = "check the user and password in REPLAYLINK_DATABASE_URL"
    else:
        hint = "check REPLAYLINK_DATABASE_URL and that the server is running"
    return f"Cannot connect to the database at {_shown_url(settings)} ({reason}): {hint}."


def _cannot_create(settings: Settings, exc: OSError) -> str:
    where = exc.filename or settings.data_dir
    variable = "REPLAYLINK_DATABASE_URL" if settings.database_url else "REPLAYLINK_DATA_DIR"
    if settings.replay_store and str(where).startswith(settings.replay_store.removeprefix("file://")):
        variable = "REPLAYLINK_REPLAY_STORE"
    reason = exc.strerror or exc.__class__.__name__
    return f"{variable}: cannot create {where} ({reason}); use a writable directory."


def _check_vault_keys(rt: Runtime) -> None:
    """Refuse to start when stored credentials use a key this process does not have."""
    from replaylink.store.integrations import all_with_secrets
    from replaylink.vault import Vault, VaultError

    unknown: set[str] = set()
    with transaction(rt.sessions) as db:
        for row in all_with_secrets(db):
            try:
                kid = Vault.key_id_of(row.secrets or "")
            except VaultError:
                raise fail(
                    f"The stored credentials of integration {row.provider}/{row.name} (project "
                    f"{row.project_id}) are not a ReplayLink ciphertext; delete and re-create it."
                ) from None
            if not rt.vault.knows(kid):
                unknown.add(kid)
    if unknown:
        raise fail(
            f"Stored credentials are encrypted with key(s) {', '.join(sorted(unknown))}, which this process "
            "does not have; set REPLAYLINK_ENCRYPTION_KEY (or REPLAYLINK_PREVIOUS_ENCRYPTION_KEYS) to "
            "the key in use. ReplayLink never falls back to plain text."
        )


# --------------------------------------------------------------------------- serve


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default REPLAYLINK_HOST).")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port (default REPLAYLINK_PORT).")
    ] = None,
    importer: Annotated[bool, typer.Option(help="Run the importer in this process.")] = True,
    workers: Annotated[
        int,
        typer.Option(min=1, help="HTTP processes; above 1 needs --no-importer (run `replaylink worker`)."),
    ] = 1,
) -> None:
    """Run the HTTP server (and, by default, the importer). Migrates SQLite automatically."""
    import uvicorn

    from replaylink.api.app import create_app

    if workers > 1 and importer:
        raise fail(
            "--workers above 1 serves HTTP only: add --no-importer and run the importer as "
            "`replaylink worker` beside it."
        )
    settings = settings_or_exit()
    bind_host, bind_port = host or settings.host, port or settings.port
    # Before migrating or bootstrapping (whose admin password is shown once), not after printing
    # "listening": a taken port would otherwise end in uvicorn's "[Errno 98] address already in use".
    _check_bindable(bind_host, bind_port)
    with runtime(migrate_sqlite=True) as rt:
        base_url = http_url(bind_host, bind_port)
        _bootstrap(rt, base_url)
        application: Any = (
            "replaylink.api.process_app:create" if workers > 1 else create_app(rt, run_importer=importer)
        )
        out.print(f"ReplayLink listening on {base_url}", highlight=False)
        uvicorn.run(
            application,
            host=bind_host,
            port=bind_port,
            log_level=settings.log_level,
            workers=workers,
            factory=workers > 1,
            # uvicorn restarts a worker that has not answered its supervisor within 5 s; a worker
            # still importing the app on a loaded host is not hung, and restarting it only repeats that.
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
        )


def _check_bindable(host: str, port: int) -> None:
    """Exit with a clear message when ``host:port`` cannot be listened on right now."""
    import errno

    from replaylink.demo.ports import bind_problem

    problem = bind_problem(host, port)
    if problem is None:
        return
    if problem.errno == errno.EADDRINUSE:
        raise fail(
            f"Port {port} is in use on {host}: stop what listens there, or pass --port or set "
            "REPLAYLINK_PORT to another port."
        )
    reason = problem.strerror or str(problem) or problem.__class__.__name__
    raise fail(
        f"Cannot listen on {host}:{port} ({reason}): pass --host/--port or set "
        "REPLAYLINK_HOST/REPLAYLINK_PORT."
    )


def http_url(host: str, port: int) -> str:
    """``http://host:port`` as serve binds it (IPv6 addresses in brackets)."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@app.command()
def worker(
    concurrency: Annotated[
        int | None, typer.Option(min=1, max=256, help="Polls in flight at once (default 64).")
    ] = None,
) -> None:
    """Run the importer only (any number of workers can share one PostgreSQL database)."""
    import asyncio
    import logging
    import signal

    from replaylink.importer.worker import Importer, tune_gc
    from replaylink.runtime_importer import poll_context

    with runtime(migrate_sqlite=True) as rt:
        logging.basicConfig(
            level=rt.settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )
        importer = (
            Importer(poll_context(rt), concurrency=concurrency) if concurrency else Importer(poll_context(rt))
        )

        async def main() -> None:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, importer.stop)
            await importer.run()

        out.print(f"importer {importer.owner} running; SIGTERM or Ctrl-C stops it cleanly")
        tune_gc()
        asyncio.run(main())


def _bootstrap(rt: Runtime, base_url: str) -> None:
    """On an empty database: a default project, an admin user and an admin API key, printed once."""
    with transaction(rt.sessions) as db:
        if not accounts.is_empty(db):
            return
        project = accounts.create_project(db, "Default")
        password = secrets.token_urlsafe(12)
        user = accounts.create_user(db, "admin@localhost", password, is_admin=True)
        key = accounts.create_api_key(db, None, name="bootstrap admin key", user_id=user.id)
    out.print(
        "\n[bold]First start: created a default project and an admin.[/bold] This is shown only once.\n"
        f"  project 'Default' (id {project.id}), project key for the tracker: {project.public_key}\n"
        f"  admin sign-in: admin@localhost / {password}\n"
        f"  admin API key: {key.key}\n"
        f"  try: curl -H 'Authorization: Bearer <admin API key>' {base_url}/api/v1/projects\n",
        highlight=False,
    )


# --------------------------------------------------------------------------- db


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Migrate the database to the newest schema (run this before serve on PostgreSQL)."""
    with runtime(require_current=False) as rt:
        connect_or_exit(rt.engine, rt.settings)
        migrate.upgrade(rt.engine, revision)  # waits for another upgrade of the same database
        out.print(f"database at revision {migrate.current_revision(rt.engine)}")


@db_app.command("current")
def db_current() -> None:
    """Print the database's schema revision and the newest one (creates nothing)."""
    settings = settings_or_exit()
    check_database_url(settings)
    current = _current_revision(settings)
    out.print(f"current: {current or '(empty database)'}  head: {migrate.head_revision()}", highlight=False)


def _current_revision(settings: Settings) -> str | None:
    """The schema revision, None for an empty database: read only, so neither the keys nor a
    SQLite file that does not exist yet are created (as :func:`runtime` would)."""
    from replaylink.store.db import make_engine

    url = settings.sqlalchemy_url
    if settings.is_sqlite:
        path = make_url(url).database
        if path and path != ":memory:" and not Path(path).exists():
            return None
    try:
        engine = make_engine(url)
    except OSError as exc:
        raise fail(_cannot_create(settings, exc), code=2) from None
    try:
        connect_or_exit(engine, settings)
        return migrate.current_revision(engine)
    except SQLAlchemyError as exc:
        raise fail(f"Cannot read the database's schema revision: {exc.__class__.__name__}: {exc}") from None
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- projects, users, keys


@project_app.command("create")
def project_create(
    name: str,
    origin: Annotated[
        list[str] | None, typer.Option(help="Allowed origin (repeatable); default any.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a project and print its project key (for the browser tracker)."""
    from replaylink.api.projects import ProjectOut, normalise_origins

    try:
        origins = normalise_origins(origin)  # as POST /api/v1/projects does
    except ValueError as exc:
        raise fail(f"--origin {exc}", code=2) from None
    with runtime() as rt, transaction(rt.sessions) as db:
        row = ProjectOut.of(accounts.create_project(db, name, origins))
    out.print_json(row.model_dump_json()) if as_json else out.print(
        f"project {row.id} '{name}': project key {row.project_key}", highlight=False
    )


@project_app.command("list")
def project_list(as_json: JsonOpt = False) -> None:
    """List projects with their project keys."""
    from replaylink.api.projects import ProjectOut

    with runtime() as rt, transaction(rt.sessions) as db:
        rows = [ProjectOut.of(p) for p in accounts.list_projects(db)]
    if as_json:  # exactly what GET /api/v1/projects answers
        out.print_json(json.dumps([r.model_dump(mode="json") for r in rows]))
        return
    table = Table("id", "name", "project key", "created")
    for r in rows:
        table.add_row(str(r.id), r.name, r.project_key, r.created_at.isoformat())
    out.print(table)


@user_app.command("create")
def user_create(
    email: str,
    admin: Annotated[bool, typer.Option("--admin", help="Give the user admin rights.")] = False,
    project: Annotated[
        list[int] | None, typer.Option("--project", help="A project a non-admin user sees (repeatable).")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
) -> None:
    """Create a dashboard user (prompts for the password unless --password-stdin)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        raise fail("The password must have at least 8 characters.")
    if "@" not in email or len(email) > 320:
        raise fail("Give a valid email address.")

    try:
        with runtime() as rt, transaction(rt.sessions) as db:
            missing = [p for p in project or [] if not accounts.list_projects(db, only_id=p)]
            if missing:
                raise fail(f"There is no project {missing[0]}; see `replaylink project list`.")
            user = accounts.create_user(db, email, password, is_admin=admin)
            user_id = user.id
            if project and not admin:
                auth_sessions.set_project_ids(db, user_id, set(project))
    except IntegrityError:
        raise fail(f"A user with the email {email} already exists.") from None
    out.print(f"user {user_id} {email}{' (admin)' if admin else ''} created", highlight=False)


@apikey_app.command("create")
def apikey_create(
    project: Annotated[int | None, typer.Option(help="Scope the key to this project id.")] = None,
    name: Annotated[str, typer.Option(help="A label for the key.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Create an API key and print it once (admin unless --project)."""
    with runtime() as rt, transaction(rt.sessions) as db:
        if project is not None and not accounts.list_projects(db, only_id=project):
            raise fail(f"There is no project {project}; see `replaylink project list`.")
        key = accounts.create_api_key(db, project, name=name)
    if as_json:
        out.print_json(json.dumps({"id": key.id, "key": key.key, "project_id": key.project_id}))
    else:
        scope = f"project {project}" if project is not None else "all projects (admin)"
        out.print(f"API key for {scope} (shown once, store it now):\n{key.key}", highlight=False)


# --------------------------------------------------------------------------- tokens


@token_app.command("mint")
def token_mint(
    project: Annotated[str, typer.Option(help="The project key (or project id).")],
    user_id: Annotated[str | None, typer.Option(help="Optional user id for the session.")] = None,
) -> None:
    """Start a session for a project and print its token (for testing a backend's logging)."""
    from replaylink.store.sessions import start_session

    with runtime() as rt, transaction(rt.sessions) as db:
        row = accounts.project_by_key(db, project)
        if row is None and project.isdigit():
            row = next(iter(accounts.list_projects(db, only_id=int(project))), None)
        if row is None:
            raise fail("No project has this key or id; see `replaylink project list`.")
        session, token = start_session(
            db,
            rt.signer,
            project_id=row.id,
            lifetime=timedelta(seconds=rt.settings.session_lifetime_seconds),
            page_url="",
            user_agent="replaylink token mint",
            user_id=user_id,
            metadata=None,
            token=None,
        )
        out.print(f"session {session.id}\n{token}", highlight=False)


@token_app.command("inspect")
def token_inspect(token: str, as_json: JsonOpt = False) -> None:
    """Say what a token claims and whether it is valid, expired or forged."""
    with runtime(require_current=False) as rt:
        verification = rt.signer.verify(token)
    data = verification.data or peek(token)
    status = {"valid": "valid", "expired": "expired", "bad_signature": "forged", "malformed": "malformed"}[
        verification.status
    ]
    info: dict[str, Any] = {"status": status}
    if data is not None:
        info.update(
            session_id=str(data.session_id),
            project_id=data.project_id,
            expires_at=datetime.fromtimestamp(data.expires_at, UTC).isoformat(),
        )
    if as_json:
        out.print_json(json.dumps(info))
    else:
        for key, value in info.items():
            out.print(f"{key:11} {value}", highlight=False)
    if status in ("forged", "malformed"):
        raise typer.Exit(2)


# --------------------------------------------------------------------------- keys


@keys_app.command("rotate")
def keys_rotate(
    generate: Annotated[
        bool, typer.Option(help="Generate a new key in the data dir, keeping the old one for decryption.")
    ] = False,
) -> None:
    """Re-encrypt every stored credential under the current encryption key.

    With environment keys: set REPLAYLINK_ENCRYPTION_KEY to the new key and list the old one in
    REPLAYLINK_PREVIOUS_ENCRYPTION_KEYS, then run this. With the generated key file: --generate.
    """
    from replaylink.config import rotate_key_file
    from replaylink.integrations.service import reencrypt

    if generate:
        try:
            rotate_key_file(settings_or_exit())
        except ConfigError as exc:
            raise fail(str(exc)) from None
    with runtime() as rt, transaction(rt.sessions) as db:
        done = reencrypt(db, rt.vault)
    with_secrets = len(done.reencrypted) + len(done.already_current)
    out.print(
        f"re-encrypted {len(done.reencrypted)} of {with_secrets} integration(s) under key {done.key_id}",
        markup=False,
    )
    for heading, labels in (
        ("re-encrypted", done.reencrypted),
        ("already under this key, left as they were", done.already_current),
        ("skipped, no stored secrets to encrypt", done.without_secrets),
    ):
        if labels:
            out.print(f"  {heading} ({len(labels)}): {', '.join(labels)}", markup=False)


# --------------------------------------------------------------------------- import


def _parse_when(text: str, now: datetime) -> datetime:
    """``2h``, ``30m``, ``7d``, ``45s`` ago, or an ISO-8601 time."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip()
    if text[:-1].isdigit() and text[-1:] in units:
        return now - timedelta(seconds=int(text[:-1]) * units[text[-1]])
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is neither a duration like 2h nor an ISO-8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command("import")
def import_(
    project: Annotated[int, typer.Option(help="Project id.")],
    integration: Annotated[str, typer.Option(help="Integration name, or provider/name.")],
    since: Annotated[str, typer.Option(help="Start: a duration ago (2h, 7d) or an ISO time.")] = "2h",
    until: Annotated[str | None, typer.Option(help="End (default now).")] = None,
) -> None:
    """Backfill one integration over a past window; safe while workers run."""
    import asyncio

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from replaylink.importer.backfill import backfill
    from replaylink.runtime_importer import poll_context
    from replaylink.store.integrations import list_for_project

    now = datetime.now(UTC)
    start, end = _parse_when(since, now), _parse_when(until, now) if until else now
    if start >= end:
        raise fail("--since must be before --until.")
    with runtime() as rt:
        with transaction(rt.sessions) as db:
            provider, _, name = integration.rpartition("/")
            rows = [
                r for r in list_for_project(db, project) if r.name == name and provider in ("", r.provider)
            ]
        if len(rows) != 1:
            raise fail(
                f"{'No' if not rows else 'More than one'} integration matches {integration!r} in project "
                f"{project}; use provider/name as listed by GET /api/v1/projects/{project}/integrations."
            )
        total = (end - start).total_seconds()
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(),
            console=out,
        ) as bar:
            task = bar.add_task(f"{rows[0].provider}/{rows[0].name}", total=total, stats="")
            began = datetime.now(UTC)

            def show(p: Any) -> None:
                rate = p.scanned / max((datetime.now(UTC) - began).total_seconds(), 1e-3)
                bar.update(
                    task,
                    completed=(p.done_until - start).total_seconds(),
                    stats=f"scanned {p.scanned}  matched {p.matched}  new {p.imported}  {rate:,.0f} rec/s",
                )

            try:
                result = asyncio.run(backfill(poll_context(rt), rows[0], start, end, on_progress=show))
            except Exception as exc:
                from replaylink.providers.base import ProviderError

                if isinstance(exc, ProviderError):
                    raise fail(exc.message) from None
                raise
        out.print(
            f"scanned {result.scanned}, matched {result.matched}, new events {result.imported}, "
            f"rejected: {_rejected(result.outcomes)}",
            highlight=False,
            markup=False,
        )


def _rejected(outcomes: Mapping[str, int]) -> str:
    """``forged 1, malformed 2`` (the outcomes other than a match), or ``none``."""
    rejected = [
        f"{reason} {count}"
        for reason, count in sorted(outcomes.items())
        if reason not in ("matched", "expired_in_grace") and count
    ]
    return ", ".join(rejected) or "none"


# --------------------------------------------------------------------------- retention


@app.command()
def purge(
    days: Annotated[
        int | None, typer.Option(min=1, help="Days to keep (default REPLAYLINK_RETENTION_DAYS).")
    ] = None,
) -> None:
    """Delete sessions, backend events and cached live logs older than the retention period."""
    from replaylink.retention import purge as purge_old

    with runtime() as rt:
        keep = days or rt.settings.retention_days
        done = purge_old(rt.sessions, keep, replay_store=rt.replay_store)
    out.print(
        f"purged {done.sessions} sessions, {done.segments} recording segments, {done.events} backend "
        f"events and {done.cache_entries} cached live answers older than {keep} days",
        highlight=False,
    )


# --------------------------------------------------------------------------- demo


@app.command()
def demo(
    data_dir: Annotated[Path, typer.Option(help="The demo's own data directory.")] = Path(
        "./replaylink-demo"
    ),
    port: Annotated[int | None, typer.Option(help="ReplayLink's port (default: a free one).")] = None,
    shop_port: Annotated[int | None, typer.Option(help="The shop's port (default: a free one).")] = None,
    log_store_port: Annotated[
        int | None, typer.Option(help="osmem-server's port (default: a free one).")
    ] = None,
    snippet_mode: Annotated[
        str, typer.Option(help="sdk: the Python SDK on the shop's backend; seed: the seed page's snippet.")
    ] = "sdk",
    simulate: Annotated[
        int, typer.Option(min=0, max=50, help="Drive Chromium through N scripted shopping sessions.")
    ] = 0,
    reset: Annotated[bool, typer.Option("--reset", help="Start from an empty demo directory.")] = False,
    poll_interval: Annotated[
        float, typer.Option(min=1, max=3600, help="Seconds between the importer's polls of the log store.")
    ] = 2.0,
    chromium: Annotated[str, typer.Option(help="The Chromium binary for --simulate.")] = "/usr/bin/chromium",
) -> None:
    """A shop that breaks, its replays and its backend errors, on this machine (127.0.0.1 only)."""
    from replaylink.demo.run import DemoError, DemoOptions, PortInUse, run

    if snippet_mode not in ("sdk", "seed"):
        raise fail("--snippet-mode is sdk (the Python SDK) or seed (the seed page's snippet).")
    options = DemoOptions(
        data_dir=data_dir,
        port=port,
        shop_port=shop_port,
        log_store_port=log_store_port,
        snippet_mode="seed" if snippet_mode == "seed" else "sdk",
        simulate=simulate,
        reset=reset,
        poll_interval=poll_interval,
        chromium=chromium,
    )
    try:
        code = run(options, lambda text: out.print(text, highlight=False, markup=False))
    except (DemoError, PortInUse) as exc:
        raise fail(str(exc)) from None
    raise typer.Exit(code)


@replay_app.command("sweep")
def replay_sweep(
    grace: Annotated[
        int | None,
        typer.Option(
            min=0, help="Keep unindexed blobs younger than this, s (REPLAYLINK_REPLAY_SWEEP_GRACE_SECONDS)."
        ),
    ] = None,
) -> None:
    """Delete blobs of the replay store that no segment row names (workers also do this hourly)."""
    from datetime import timedelta

    from replaylink.replay.sweep import sweep

    with runtime() as rt:
        seconds = rt.settings.replay_sweep_grace_seconds if grace is None else grace
        done = sweep(rt.sessions, rt.replay_store, timedelta(seconds=seconds))
        where = rt.replay_store.describe()
    out.print(f"swept {where}: {done.deleted} unindexed blobs deleted of {done.scanned}", highlight=False)


def main() -> None:
    app()
