"""Settings from ``REPLAYLINK_*`` environment variables, and the keys kept in the data directory."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

SECRET_KEY_FILE = "secret_key"
ENCRYPTION_KEY_FILE = "encryption_key"
PREVIOUS_ENCRYPTION_KEYS_FILE = "previous_encryption_keys"
"""Written by ``replaylink keys rotate``: one retired key per line, still used to decrypt."""
SQLITE_FILE = "replaylink.db"


class ConfigError(Exception):
    """A setting or key file is wrong; the message says which and what to do."""


class BadSettings(ConfigError):
    """``REPLAYLINK_*`` variables that do not parse: one line per variable, naming it and what it
    expects (never the value given, which may be a secret)."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


ENV_PREFIX = "REPLAYLINK_"


def environment_without_settings() -> dict[str, str]:
    """This process's environment without any ``REPLAYLINK_*`` variable: for starting a
    ``replaylink`` process that must see only the settings its caller adds."""
    return {name: value for name, value in os.environ.items() if not name.startswith(ENV_PREFIX)}


def env_name(field: str) -> str:
    """``port`` -> ``REPLAYLINK_PORT``."""
    return f"{ENV_PREFIX}{field.upper()}"


def describe_validation(exc: ValidationError) -> list[str]:
    """One line per bad variable: ``REPLAYLINK_PORT: input should be a valid integer, ...``."""
    problems: dict[str, list[str]] = {}
    for error in exc.errors(include_input=False, include_url=False):
        loc = error.get("loc") or ("settings",)
        name = env_name(str(loc[0]))
        message = str(error.get("msg", "invalid value"))
        message = message[:1].lower() + message[1:]
        if message not in problems.setdefault(name, []):
            problems[name].append(message)
    return [f"{name}: {'; '.join(messages)}" for name, messages in problems.items()]


MIN_KEY_CHARS = 16
SHORT_KEY = f"shorter than {MIN_KEY_CHARS} characters; use a long random value"


def _short_keys(settings: Settings) -> list[str]:
    """One :class:`BadSettings` line per key variable that is set but too short (never its value)."""
    keys = {"secret_key": settings.secret_key, "encryption_key": settings.encryption_key}
    return [
        f"{env_name(field)}: {SHORT_KEY}"
        for field, value in keys.items()
        if value is not None and len(value.get_secret_value().strip()) < MIN_KEY_CHARS
    ]


def load_settings() -> Settings:
    """``Settings()`` from the environment, with wrong variables reported as :class:`BadSettings`:
    values that do not parse first, then keys that parse but are too short."""
    try:
        settings = Settings()
    except ValidationError as exc:
        raise BadSettings(describe_validation(exc)) from None
    except SettingsError as exc:  # a value the source itself could not decode
        field = str(exc).split('"')[1] if '"' in str(exc) else "settings"
        raise BadSettings([f"{env_name(field)}: cannot be parsed"]) from None
    if short := _short_keys(settings):
        raise BadSettings(short)
    return settings


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every knob of ReplayLink. Each field ``x`` is read from ``REPLAYLINK_X``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    data_dir: Path = Field(Path("./replaylink-data"), description="Keys and the SQLite database live here.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default: SQLite in the data dir.")
    secret_key: SecretStr | None = Field(None, description="Signs session tokens; generated when absent.")
    previous_secret_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="Comma-separated old secret keys that still verify tokens."
    )
    encryption_key: SecretStr | None = Field(
        None, description="Encrypts provider credentials; generated when absent."
    )
    previous_encryption_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="Comma-separated old encryption keys that still decrypt."
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["*"], description="Origins allowed to call /api/v1 from a browser."
    )
    session_lifetime_seconds: int = Field(7200, ge=60, le=30 * 86400)
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    retention_days: int = Field(30, ge=1)
    block_private_networks: bool = False

    # dashboard sign-in
    dashboard_idle_seconds: int = Field(
        8 * 3600, ge=60, description="A dashboard sign-in ends after this long without a request."
    )
    dashboard_max_seconds: int = Field(
        7 * 86400, ge=300, description="A dashboard sign-in ends this long after it began, in use or not."
    )
    cookie_secure: Literal["auto", "always", "never"] = Field(
        "auto", description="Secure cookie flag: auto = when the request came over https."
    )
    login_failures_per_account: int = Field(5, ge=1, description="Failed sign-ins per account per window.")
    login_attempts_per_ip: int = Field(30, ge=1, description="Sign-ins per client address per window.")
    login_window_seconds: int = Field(900, ge=10, description="The sign-in rate-limit window.")

    # importer
    poll_interval_seconds: float = Field(15.0, gt=0)
    overlap_seconds: float = Field(300.0, ge=0)
    settle_seconds: float = Field(10.0, ge=0)
    initial_lookback_seconds: float = Field(86400.0, gt=0)
    max_backoff_seconds: float = Field(900.0, gt=0)
    lease_seconds: float = Field(120.0, gt=5)
    expired_grace_seconds: float = Field(86400.0, ge=0)
    message_max_bytes: int = Field(16 * 1024, ge=256)
    attributes_max_bytes: int = Field(64 * 1024, ge=1024)
    provider_timeout_seconds: float = Field(15.0, gt=0)
    provider_retries: int = Field(3, ge=0, le=10)
    provider_backoff_seconds: float = Field(0.5, ge=0)
    provider_max_rate_limit_wait_seconds: float = Field(10.0, ge=0)

    search_budget_ms: float = Field(
        20.0, ge=0, description="How long a text search (q) of the session list walks sessions per request."
    )
    # on-demand backend logs
    on_demand_padding_seconds: float = Field(300.0, ge=0)
    on_demand_max_records: int = Field(1000, ge=1)
    on_demand_timeout_seconds: float = Field(20.0, gt=0)
    cache_recent_seconds: float = Field(600.0, ge=0)
    cache_old_seconds: float = Field(86400.0, ge=0)

    # replay ingest and storage
    replay_store: str | None = Field(
        None, description="Where recordings go: a directory, or s3://bucket/prefix; default <data dir>."
    )
    s3_endpoint_url: str | None = Field(None, description="S3-compatible endpoint (MinIO, ...) for replays.")
    replay_flush_interval_ms: int = Field(5000, ge=500, le=60_000)
    replay_flush_raw_bytes: int = Field(256 * 1024, ge=16 * 1024)
    replay_max_batch_bytes: int = Field(1024 * 1024, ge=16 * 1024, description="Compressed, per batch.")
    replay_max_batch_raw_bytes: int = Field(10 * 1024 * 1024, ge=64 * 1024, description="Decompressed.")
    replay_max_session_bytes: int = Field(200 * 1024 * 1024, ge=1024 * 1024)
    replay_max_session_seconds: int = Field(4 * 3600, ge=60)
    replay_clock_skew_seconds: int = Field(600, ge=0)
    replay_token_grace_seconds: int = Field(300, ge=0)
    replay_batches_per_minute: int = Field(120, ge=1, description="Per session, after a burst.")
    replay_batch_burst: int = Field(40, ge=1)
    replay_sweep_grace_seconds: int = Field(3600, ge=60, description="Age before an unindexed blob goes.")

    @field_validator("previous_secret_keys", "previous_encryption_keys", "cors_origins", mode="before")
    @classmethod
    def _commas(cls, value: object) -> object:
        return _split_commas(value)

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL, with the psycopg 3 driver for PostgreSQL."""
        url = self.database_url or f"sqlite:///{(self.data_dir / SQLITE_FILE).resolve()}"
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")

    @cached_property
    def keys(self) -> Keys:
        """Secret and encryption keys, loaded (or generated on first start) once; :func:`reload_keys`
        reads them again when a key file they came from changed (``replaylink keys rotate``)."""
        return load_keys(self)


@dataclass(frozen=True)
class Keys:
    secret_key: bytes
    previous_secret_keys: tuple[bytes, ...]
    encryption_key: bytes
    previous_encryption_keys: tuple[bytes, ...]
    encryption_files: tuple[FileStamp, ...] = ()
    """The encryption key files these keys were read from, as they were just before: empty when
    every encryption key comes from the environment (which cannot change in a running process)."""

    def __repr__(self) -> str:
        return "Keys(********)"


FileStamp = tuple[str, int, int, int] | tuple[str]
"""(path, inode, size, mtime in ns) of a key file, or (path,) when it does not exist."""


def _stamp(path: Path) -> FileStamp:
    try:
        st = path.stat()
    except FileNotFoundError:
        return (str(path),)
    except OSError:
        return (str(path), -1, -1, -1)
    return (str(path), st.st_ino, st.st_size, st.st_mtime_ns)


def _encryption_files(settings: Settings) -> tuple[Path, ...]:
    """The files the encryption keys are read from: the key file unless REPLAYLINK_ENCRYPTION_KEY
    is set, and the previous keys file (``keys rotate --generate`` writes both)."""
    retired = settings.data_dir / PREVIOUS_ENCRYPTION_KEYS_FILE
    if settings.encryption_key is not None:
        return (retired,)
    return (settings.data_dir / ENCRYPTION_KEY_FILE, retired)


def reload_keys(settings: Settings) -> Keys | None:
    """The keys read again when an encryption key file changed since ``settings.keys`` was loaded
    (which they then replace), else None. Never generates a key. Cheap when nothing changed: a
    ``stat`` per key file. Raises :class:`ConfigError` when a changed file cannot be read."""
    current = settings.keys
    stamps = tuple(_stamp(path) for path in _encryption_files(settings))
    if stamps == current.encryption_files:
        return None
    fresh = load_keys(settings, may_generate=False)
    settings.__dict__["keys"] = fresh  # the cached_property's slot
    return fresh


def load_keys(settings: Settings, *, may_generate: bool = True) -> Keys:
    """Resolve both keys: from the environment, else from the data dir (generated on first start)."""
    stamps = tuple(_stamp(path) for path in _encryption_files(settings))  # before reading them
    fresh = may_generate and _is_first_start(settings)
    secret = _key(settings.secret_key, settings.data_dir / SECRET_KEY_FILE, "SECRET_KEY", fresh)
    encryption = _key(
        settings.encryption_key, settings.data_dir / ENCRYPTION_KEY_FILE, "ENCRYPTION_KEY", fresh
    )
    return Keys(
        secret_key=secret,
        previous_secret_keys=tuple(k.get_secret_value().encode() for k in settings.previous_secret_keys),
        encryption_key=encryption,
        previous_encryption_keys=tuple(
            k.get_secret_value().encode() for k in settings.previous_encryption_keys
        )
        + _retired_keys(settings.data_dir / PREVIOUS_ENCRYPTION_KEYS_FILE),
        encryption_files=stamps,
    )


def _retired_keys(path: Path) -> tuple[bytes, ...]:
    if not path.exists():
        return ()
    try:
        return tuple(line.strip().encode() for line in path.read_text().splitlines() if line.strip())
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read {path} ({exc.__class__.__name__}); fix its permissions.") from None


def _is_first_start(settings: Settings) -> bool:
    """True when nothing was ever written: no SQLite database and no key file in the data dir."""
    data = settings.data_dir
    if settings.is_sqlite and settings.database_url is None and (data / SQLITE_FILE).exists():
        return False
    return not ((data / SECRET_KEY_FILE).exists() or (data / ENCRYPTION_KEY_FILE).exists())


def _key(from_env: SecretStr | None, path: Path, env_name: str, may_generate: bool) -> bytes:
    if from_env is not None:
        value = from_env.get_secret_value().strip()
        if len(value) < MIN_KEY_CHARS:  # load_settings refuses it first; this guards Settings(...)
            raise ConfigError(f"REPLAYLINK_{env_name} is {SHORT_KEY}.")
        return value.encode()
    if path.exists() or path.is_symlink():
        try:
            value = path.read_text().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"Cannot read the key file {path} ({exc.__class__.__name__}); fix its permissions "
                f"or set REPLAYLINK_{env_name}."
            ) from None
        if len(value) < MIN_KEY_CHARS:
            raise ConfigError(
                f"The key file {path} is empty or too short; restore it from a backup or set "
                f"REPLAYLINK_{env_name}."
            )
        return value.encode()
    if not may_generate:
        raise ConfigError(
            f"The key file {path} is missing but this data directory is already in use; restore the "
            f"file from a backup or set REPLAYLINK_{env_name} (a new key would invalidate existing data)."
        )
    # A data dir that cannot be written is a wrong REPLAYLINK_DATA_DIR: BadSettings (the CLI exits 2).
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadSettings(
            [
                f"{ENV_PREFIX}DATA_DIR: cannot create the directory {path.parent} "
                f"({exc.strerror or exc.__class__.__name__}); use a writable directory."
            ]
        ) from None
    value = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process generated it first
        return _key(None, path, env_name, may_generate=False)
    except OSError as exc:
        raise BadSettings(
            [
                f"{ENV_PREFIX}DATA_DIR: cannot create the key file {path} "
                f"({exc.strerror or exc.__class__.__name__}); make {path.parent} writable "
                f"or set REPLAYLINK_{env_name}."
            ]
        ) from None
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value.encode()


def rotate_key_file(settings: Settings) -> None:
    """Move the generated encryption key to the retired list and write a new one."""
    if settings.encryption_key is not None:
        raise ConfigError(
            "REPLAYLINK_ENCRYPTION_KEY is set, so there is no key file to rotate: set the new key there "
            "and list the old one in REPLAYLINK_PREVIOUS_ENCRYPTION_KEYS, then run `replaylink keys rotate`."
        )
    path = settings.data_dir / ENCRYPTION_KEY_FILE
    old = _key(None, path, "ENCRYPTION_KEY", may_generate=False)
    retired = settings.data_dir / PREVIOUS_ENCRYPTION_KEYS_FILE
    fd = os.open(retired, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as handle:
        handle.write(old.decode() + "\n")
    fresh = path.with_suffix(".new")
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(32) + "\n")
    os.replace(fresh, path)


def get_settings() -> Settings:
    return load_settings()
