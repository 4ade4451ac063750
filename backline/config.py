"""One configuration object, read from the environment; CLI flags may override fields.

Every field is documented in docs/configuration.md (a test fails when one is not). The answer
path imports this module, so it uses the standard library only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar

from backline.core.validation import InvalidValue, e164, http_url, public_base_url

_N = TypeVar("_N", int, float)

__all__ = [
    "ENVIRONMENT",
    "Config",
    "ConfigError",
    "answer_deadline",
    "auth_tokens",
    "default_state_dir",
    "normalise_database_url",
    "shown_database",
]


class ConfigError(ValueError):
    """A setting has a value backline cannot use; the message names the variable."""


def auth_tokens(raw: str) -> tuple[str, ...]:
    """The tokens in BACKLINE_TWILIO_AUTH_TOKEN: one, or several separated by commas (each
    subaccount signs with its own; during a rotation the old and the new one are both valid)."""
    return tuple(dict.fromkeys(token.strip() for token in raw.split(",") if token.strip()))


def normalise_database_url(url: str) -> str:
    """Accept database URLs as people write them and give SQLAlchemy's spelling.

    ``postgres://`` (Heroku, many dashboards) and ``postgresql://`` both mean PostgreSQL through
    psycopg2, the driver the answer path uses because it imports in a tenth of psycopg 3's time.
    """
    url = url.strip()
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    if url == "sqlite://" or url in ("sqlite:///", "sqlite:///:memory:"):
        return url
    if url.startswith("sqlite:///"):
        # A relative file is made absolute once, here: every message then names the file
        # itself, and a command run from another folder cannot open a second, empty one.
        path = url.removeprefix("sqlite:///")
        return "sqlite:///" + os.path.abspath(path)
    from backline.core.redact import mask_password  # only here: the answer path imports this

    raise ConfigError(
        f"BACKLINE_DATABASE_URL {mask_password(url)!r} is not supported: use "
        f"sqlite:///path/to/file.db or postgresql://USER:PASSWORD@HOST:5432/DATABASE"
    )


def shown_database(url: str) -> str:
    """The database as a person should see it: a SQLite file by its path, a server's URL
    without its password (masked by :func:`backline.core.redact.mask_password`, the one
    function that hides passwords)."""
    if url.startswith("sqlite:///") and url not in ("sqlite:///", "sqlite:///:memory:"):
        return url.removeprefix("sqlite:///")
    from backline.core.redact import mask_password  # only when shown: the answer path imports this

    return mask_password(url)


def default_state_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where backline keeps its local files when ``BACKLINE_STATE_DIR`` is not set.

    The same folder whichever folder a command is run from (the XDG state directory of the
    user, ``~/.local/state/backline``), so that the CLI and the server find one database.
    """
    env = os.environ if env is None else env
    base = env.get("XDG_STATE_HOME", "").strip()
    if base and os.path.isabs(base):
        return Path(base) / "backline"
    home = env.get("HOME", "").strip() or os.path.expanduser("~")
    return Path(home) / ".local" / "state" / "backline"


def _number(
    env: Mapping[str, str], name: str, default: _N, low: _N, high: _N, kind: type[_N]
) -> _N:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise ConfigError(f"{name}={raw!r} is not {what}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={raw!r} is out of range ({low} to {high})")
    return value


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    return _number(env, name, default, low, high, float)


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    return _number(env, name, default, low, high, int)


def _bool(env: Mapping[str, str], name: str, *, default: bool = False) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name}={raw!r} is not a yes/no value (use 1 or 0)")


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env.get(name, "").strip().lower() or default
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is not one of: {', '.join(choices)}")
    return value


def _notify_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """The notification settings: checked here so a typo stops the process at start."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    # BACKLINE_NOTIFY_TIMEZONE is the older name, from when only messages showed times.
    name = "BACKLINE_TIMEZONE" if env.get("BACKLINE_TIMEZONE", "").strip() else ""
    if not name and env.get("BACKLINE_NOTIFY_TIMEZONE", "").strip():
        name = "BACKLINE_NOTIFY_TIMEZONE"
    zone = env.get(name, "").strip() if name else "Asia/Tokyo"
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{name}={zone!r} is not a time zone such as Asia/Tokyo or UTC") from None
    from_number = env.get("BACKLINE_SMS_FROM", "").strip()
    if from_number:
        try:
            from_number = e164(from_number, what="BACKLINE_SMS_FROM")
        except InvalidValue as error:
            raise ConfigError(str(error)) from None
    api_url = env.get("BACKLINE_TWILIO_API_URL", "").strip() or "https://api.twilio.com"
    try:
        api_url = http_url(api_url, what="BACKLINE_TWILIO_API_URL").rstrip("/")
    except InvalidValue as error:
        raise ConfigError(str(error)) from None
    account = env.get("BACKLINE_TWILIO_ACCOUNT_SID", "") or env.get("TWILIO_ACCOUNT_SID", "")
    return {
        "notify_language": _choice(env, "BACKLINE_NOTIFY_LANGUAGE", "ja", ("ja", "en")),
        "timezone": zone,
        "notify_in_serve": _bool(env, "BACKLINE_NOTIFY_IN_SERVE", default=True),
        "notify_quiet_seconds": _float(env, "BACKLINE_NOTIFY_QUIET_SECONDS", 600.0, 0, 86400),
        "notify_summary_seconds": _float(env, "BACKLINE_NOTIFY_SUMMARY_SECONDS", 300.0, 0, 86400),
        "notify_min_interval_seconds": _float(
            env, "BACKLINE_NOTIFY_MIN_INTERVAL_SECONDS", 1.0, 0, 60
        ),
        "notify_send_timeout_seconds": _float(
            env, "BACKLINE_NOTIFY_SEND_TIMEOUT_SECONDS", 10.0, 0.1, 120
        ),
        "notify_retry_base_seconds": _float(
            env, "BACKLINE_NOTIFY_RETRY_BASE_SECONDS", 2.0, 0.01, 3600
        ),
        "notify_retry_max_seconds": _float(
            env, "BACKLINE_NOTIFY_RETRY_MAX_SECONDS", 600.0, 0.01, 86400
        ),
        "notify_max_attempts": _int(env, "BACKLINE_NOTIFY_MAX_ATTEMPTS", 20, 1, 1000),
        "notify_poll_seconds": _float(env, "BACKLINE_NOTIFY_POLL_SECONDS", 1.0, 0.05, 60),
        "notify_workers": _int(env, "BACKLINE_NOTIFY_WORKERS", 8, 1, 64),
        "allow_private_channels": _bool(env, "BACKLINE_ALLOW_PRIVATE_CHANNELS"),
        "smtp_host": env.get("BACKLINE_SMTP_HOST", "").strip(),
        "smtp_port": _int(env, "BACKLINE_SMTP_PORT", 587, 1, 65535),
        "smtp_user": env.get("BACKLINE_SMTP_USER", ""),
        "smtp_password": env.get("BACKLINE_SMTP_PASSWORD", ""),
        "smtp_from": env.get("BACKLINE_SMTP_FROM", "").strip(),
        "smtp_security": _choice(
            env, "BACKLINE_SMTP_SECURITY", "starttls", ("starttls", "tls", "none")
        ),
        "smtp_ca_file": env.get("BACKLINE_SMTP_CA_FILE", "").strip(),
        "twilio_account_sid": account.strip(),
        "sms_from": from_number,
        "twilio_api_url": api_url,
    }


def answer_deadline(env: Mapping[str, str]) -> float:
    """BACKLINE_ANSWER_DEADLINE_SECONDS: read on its own too, before the rest of the
    configuration, because it bounds the wait for the secrets the rest may need."""
    return _float(env, "BACKLINE_ANSWER_DEADLINE_SECONDS", 2.5, 0.5, 25)


@dataclass(frozen=True)
class Config:
    """Process configuration. ``env`` names the variable each field is read from."""

    database_url: str = field(default="", metadata={"env": "BACKLINE_DATABASE_URL"})
    twilio_auth_token: str = field(default="", metadata={"env": "BACKLINE_TWILIO_AUTH_TOKEN"})
    public_url: str = field(default="", metadata={"env": "BACKLINE_PUBLIC_URL"})
    state_dir: Path = field(
        default_factory=default_state_dir, metadata={"env": "BACKLINE_STATE_DIR"}
    )
    insecure_demo: bool = field(default=False, metadata={"env": "BACKLINE_INSECURE_DEMO"})
    snapshot_refresh_seconds: float = field(
        default=2.0, metadata={"env": "BACKLINE_SNAPSHOT_REFRESH_SECONDS"}
    )
    db_timeout_seconds: float = field(default=2.0, metadata={"env": "BACKLINE_DB_TIMEOUT_SECONDS"})
    answer_deadline_seconds: float = field(
        default=2.5, metadata={"env": "BACKLINE_ANSWER_DEADLINE_SECONDS"}
    )
    request_timeout_seconds: float = field(
        default=5.0, metadata={"env": "BACKLINE_REQUEST_TIMEOUT_SECONDS"}
    )
    last_resort_forward_to: str = field(
        default="", metadata={"env": "BACKLINE_LAST_RESORT_FORWARD_TO"}
    )
    log_level: str = field(default="INFO", metadata={"env": "BACKLINE_LOG_LEVEL"})
    log_format: str = field(default="text", metadata={"env": "BACKLINE_LOG_FORMAT"})
    # The zone of every time backline shows a person: messages to the team and CLI output.
    timezone: str = field(default="Asia/Tokyo", metadata={"env": "BACKLINE_TIMEZONE"})
    host: str = field(default="127.0.0.1", metadata={"env": "BACKLINE_HOST"})
    port: int = field(default=8000, metadata={"env": "BACKLINE_PORT"})
    # -- notifications ("tell the team"); see docs/notifications.md --------------------------
    notify_language: str = field(default="ja", metadata={"env": "BACKLINE_NOTIFY_LANGUAGE"})
    notify_in_serve: bool = field(default=True, metadata={"env": "BACKLINE_NOTIFY_IN_SERVE"})
    notify_quiet_seconds: float = field(
        default=600.0, metadata={"env": "BACKLINE_NOTIFY_QUIET_SECONDS"}
    )
    notify_summary_seconds: float = field(
        default=300.0, metadata={"env": "BACKLINE_NOTIFY_SUMMARY_SECONDS"}
    )
    notify_min_interval_seconds: float = field(
        default=1.0, metadata={"env": "BACKLINE_NOTIFY_MIN_INTERVAL_SECONDS"}
    )
    notify_send_timeout_seconds: float = field(
        default=10.0, metadata={"env": "BACKLINE_NOTIFY_SEND_TIMEOUT_SECONDS"}
    )
    notify_retry_base_seconds: float = field(
        default=2.0, metadata={"env": "BACKLINE_NOTIFY_RETRY_BASE_SECONDS"}
    )
    notify_retry_max_seconds: float = field(
        default=600.0, metadata={"env": "BACKLINE_NOTIFY_RETRY_MAX_SECONDS"}
    )
    notify_max_attempts: int = field(default=20, metadata={"env": "BACKLINE_NOTIFY_MAX_ATTEMPTS"})
    notify_poll_seconds: float = field(
        default=1.0, metadata={"env": "BACKLINE_NOTIFY_POLL_SECONDS"}
    )
    notify_workers: int = field(default=8, metadata={"env": "BACKLINE_NOTIFY_WORKERS"})
    allow_private_channels: bool = field(
        default=False, metadata={"env": "BACKLINE_ALLOW_PRIVATE_CHANNELS"}
    )
    smtp_host: str = field(default="", metadata={"env": "BACKLINE_SMTP_HOST"})
    smtp_port: int = field(default=587, metadata={"env": "BACKLINE_SMTP_PORT"})
    smtp_user: str = field(default="", metadata={"env": "BACKLINE_SMTP_USER"})
    smtp_password: str = field(default="", metadata={"env": "BACKLINE_SMTP_PASSWORD"})
    smtp_from: str = field(default="", metadata={"env": "BACKLINE_SMTP_FROM"})
    smtp_security: str = field(default="starttls", metadata={"env": "BACKLINE_SMTP_SECURITY"})
    smtp_ca_file: str = field(default="", metadata={"env": "BACKLINE_SMTP_CA_FILE"})
    twilio_account_sid: str = field(default="", metadata={"env": "BACKLINE_TWILIO_ACCOUNT_SID"})
    sms_from: str = field(default="", metadata={"env": "BACKLINE_SMS_FROM"})
    twilio_api_url: str = field(
        default="https://api.twilio.com", metadata={"env": "BACKLINE_TWILIO_API_URL"}
    )
    # An API key for Twilio's REST API (account audit and sync), instead of the auth token.
    twilio_api_key: str = field(default="", metadata={"env": "BACKLINE_TWILIO_API_KEY"})
    twilio_api_secret: str = field(
        default="", repr=False, metadata={"env": "BACKLINE_TWILIO_API_SECRET"}
    )
    # -- management side ------------------------------------------------------------------------
    default_region: str = field(default="", metadata={"env": "BACKLINE_DEFAULT_REGION"})

    @property
    def auth_tokens(self) -> tuple[str, ...]:
        return auth_tokens(self.twilio_auth_token)

    @property
    def rest_auth_token(self) -> str:
        """The token for Twilio's REST API (sending SMS): the first one listed."""
        tokens = self.auth_tokens
        return tokens[0] if tokens else ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env
        state_dir = _state_dir(env)
        database_url = env.get("BACKLINE_DATABASE_URL", "") or f"sqlite:///{state_dir}/backline.db"
        token = env.get("BACKLINE_TWILIO_AUTH_TOKEN", "") or env.get("TWILIO_AUTH_TOKEN", "")
        public_url = env.get("BACKLINE_PUBLIC_URL", "")
        if public_url:
            try:
                public_url = public_base_url(public_url)
            except InvalidValue as error:
                raise ConfigError(str(error)) from None
        last_resort = env.get("BACKLINE_LAST_RESORT_FORWARD_TO", "").strip()
        if last_resort:
            try:
                last_resort = e164(last_resort, what="BACKLINE_LAST_RESORT_FORWARD_TO")
            except InvalidValue as error:
                raise ConfigError(str(error)) from None
        region = env.get("BACKLINE_DEFAULT_REGION", "").strip().upper()
        if region and not (len(region) == 2 and region.isascii() and region.isalpha()):
            raise ConfigError(
                f"BACKLINE_DEFAULT_REGION={region!r} is not a two-letter country code such as JP"
            )
        level = env.get("BACKLINE_LOG_LEVEL", "INFO").strip().upper() or "INFO"
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError(f"BACKLINE_LOG_LEVEL={level!r} is not DEBUG, INFO, WARNING or ERROR")
        return cls(
            database_url=normalise_database_url(database_url),
            twilio_auth_token=",".join(auth_tokens(token)),
            public_url=public_url,
            state_dir=state_dir,
            insecure_demo=_bool(env, "BACKLINE_INSECURE_DEMO"),
            snapshot_refresh_seconds=_float(
                env, "BACKLINE_SNAPSHOT_REFRESH_SECONDS", 2.0, 0.2, 3600
            ),
            db_timeout_seconds=_float(env, "BACKLINE_DB_TIMEOUT_SECONDS", 2.0, 0.1, 30),
            answer_deadline_seconds=answer_deadline(env),
            request_timeout_seconds=_float(env, "BACKLINE_REQUEST_TIMEOUT_SECONDS", 5.0, 0.5, 60),
            last_resort_forward_to=last_resort,
            log_level=level,
            log_format=_choice(env, "BACKLINE_LOG_FORMAT", "text", ("text", "json")),
            host=env.get("BACKLINE_HOST", "").strip() or "127.0.0.1",
            port=_int(env, "BACKLINE_PORT", 8000, 1, 65535),
            default_region=region,
            twilio_api_key=env.get("BACKLINE_TWILIO_API_KEY", "").strip(),
            twilio_api_secret=env.get("BACKLINE_TWILIO_API_SECRET", "").strip(),
            **_notify_settings(env),
        )

    def with_overrides(self, **changes: object) -> Config:
        known = {f.name for f in fields(self)}
        chosen: dict[str, Any] = {k: v for k, v in changes.items() if k in known and v is not None}
        return replace(self, **chosen)

    def prepare_state_dir(
        self, *, name: str = "", advice: str = "choose a folder this user can create and write"
    ) -> Path:
        """Create the state directory if needed; a path that cannot be used stops the process
        with one line naming the variable (or ``name``, with ``advice``)."""
        from backline.store.database import private_directory

        path = self.state_dir
        try:
            # Readable by this user only: it holds callers' numbers (folders that exist are
            # left as their owner made them).
            private_directory(path)
            probe = path / f".probe-{os.getpid()}"
            probe.touch()
            probe.unlink()
        except OSError as error:
            reason = error.strerror or type(error).__name__
            label = name or f"BACKLINE_STATE_DIR={str(path)!r}"
            raise ConfigError(f"{label} cannot be used: {reason}; {advice}") from None
        return path

    def check_can_serve(self, *, insecure_named_twice: bool = False) -> None:
        """Refuse to answer real calls without a way to tell Twilio from a forger.

        Insecure demo mode next to a PostgreSQL database or an auth token looks like production
        reached by mistake (a variable left set, a copied unit file); it starts only when it is
        asked for twice, by the variable and by the `serve` flag (``insecure_named_twice``).
        """
        if self.insecure_demo:
            production = []
            if self.database_url.startswith("postgresql"):
                production.append("a PostgreSQL database")
            if self.auth_tokens:
                production.append("a Twilio auth token")
            if production and not insecure_named_twice:
                raise ConfigError(
                    "insecure demo mode (Twilio signatures NOT checked) next to "
                    + " and ".join(production)
                    + " looks like production: refusing to start. To run it anyway, set "
                    "BACKLINE_INSECURE_DEMO=1 and also pass --insecure-demo to `backline serve`"
                )
            return
        missing = []
        if not self.auth_tokens:
            missing.append("BACKLINE_TWILIO_AUTH_TOKEN (or TWILIO_AUTH_TOKEN)")
        if not self.public_url:
            missing.append("BACKLINE_PUBLIC_URL")
        if missing:
            raise ConfigError(
                "cannot check Twilio signatures without "
                + " and ".join(missing)
                + "; set them, or run the insecure demo with --insecure-demo"
            )


def _state_dir(env: Mapping[str, str]) -> Path:
    given = env.get("BACKLINE_STATE_DIR", "").strip()
    path = Path(given) if given else default_state_dir(env)
    if not given and not path.is_absolute():
        raise ConfigError(
            "BACKLINE_STATE_DIR is not set and this user has no home folder to keep local "
            "files in: set BACKLINE_STATE_DIR"
        )
    # Absolute from here on, so that messages name the real place and every process agrees.
    return Path(os.path.abspath(path))


# The environment variables backline reads, for the documentation test and `backline config`.
ENVIRONMENT: tuple[str, ...] = (
    *(str(f.metadata["env"]) for f in fields(Config)),
    "TWILIO_AUTH_TOKEN",
    "TWILIO_ACCOUNT_SID",
    "BACKLINE_NOTIFY_TIMEZONE",
    "XDG_STATE_HOME",
)
