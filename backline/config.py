"""One configuration object, read from the environment; CLI flags may override fields.

Every field is documented in docs/configuration.md (a test fails when one is not). The answer
path imports this module, so it uses the standard library only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Generic, TypeVar, cast, get_args

from backline.core.twilio_errors import Language
from backline.core.validation import InvalidValue, e164, http_url, public_base_url

_N = TypeVar("_N", int, float)

__all__ = [
    "ENVIRONMENT",
    "SETTINGS",
    "Config",
    "ConfigError",
    "Setting",
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


def e164_named(raw: str, name: str) -> str:
    return e164(raw, what=name)


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


# --- the settings table ----------------------------------------------------------------------
#
# Each field of :class:`Config` is one row: ``setting(variable, parse, doc, default=...)``. The
# row says where the value comes from, how the text is read (a parser that raises ConfigError
# naming the variable), its default and one line of documentation; ``from_env`` reads every row
# the same way. docs/configuration.md says more about each (a test fails when one is missing).

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Setting(Generic[_T]):
    """One setting: its variable, how its text is read, its default and what it is for.

    ``also``: other names read when the variable is unset (an older name, Twilio's own);
    ``fallback``: a default that depends on the environment (the state directory).
    A variable that is unset, empty or only white space takes the default.
    """

    field: str
    env: str
    parse: Callable[[str, str], _T]
    doc: str
    default: _T | None = None
    also: tuple[str, ...] = ()
    fallback: Callable[[Mapping[str, str]], _T] | None = None

    def read(self, env: Mapping[str, str]) -> _T:
        for name in (self.env, *self.also):
            raw = env.get(name, "")
            if raw.strip():
                return self.parse(raw, name)
        if self.fallback is not None:
            return self.fallback(env)
        return cast(_T, self.default)


def setting(
    env: str,
    parse: Callable[[str, str], _T],
    doc: str,
    *,
    default: _T | None = None,
    factory: Callable[[], _T] | None = None,
    also: tuple[str, ...] = (),
    fallback: Callable[[Mapping[str, str]], _T] | None = None,
    secret: bool = False,
) -> _T:
    """A :class:`Config` field that is one row of the settings table (its name is the field's)."""
    row: Setting[_T] = Setting("", env, parse, doc, default, also, fallback)
    metadata = {"setting": row}
    if factory is not None:
        return field(default_factory=factory, repr=not secret, metadata=metadata)
    return cast(_T, field(default=default, repr=not secret, metadata=metadata))


def _text(raw: str, _name: str) -> str:
    return raw.strip()


def _as_given(raw: str, _name: str) -> str:
    # A user name or password is taken as typed: spaces may be part of it.
    return raw


def _number(low: _N, high: _N, kind: type[_N]) -> Callable[[str, str], _N]:
    def parse(raw: str, name: str) -> _N:
        try:
            value = kind(raw)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise ConfigError(f"{name}={raw!r} is not {what}") from None
        if not low <= value <= high:
            raise ConfigError(f"{name}={raw!r} is out of range ({low} to {high})")
        return value

    return parse


def _seconds(low: float, high: float) -> Callable[[str, str], float]:
    return _number(low, high, float)


def _whole(low: int, high: int) -> Callable[[str, str], int]:
    return _number(low, high, int)


def _flag(raw: str, name: str) -> bool:
    value = raw.strip().lower()
    if value in ("0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name}={value!r} is not a yes/no value (use 1 or 0)")


def _one_of(*choices: str) -> Callable[[str, str], str]:
    def parse(raw: str, name: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ConfigError(f"{name}={value!r} is not one of: {', '.join(choices)}")
        return value

    return parse


def _language(raw: str, name: str) -> Language:
    value = _one_of(*get_args(Language))(raw, name)
    return "en" if value == "en" else "ja"


def _checked(check: Callable[[str, str], str]) -> Callable[[str, str], str]:
    """A value checked by the validation the CLI uses, its error naming the variable."""

    def parse(raw: str, name: str) -> str:
        try:
            return check(raw.strip(), name)
        except InvalidValue as error:
            raise ConfigError(str(error)) from None

    return parse


def _time_zone(raw: str, name: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    zone = raw.strip()
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{name}={zone!r} is not a time zone such as Asia/Tokyo or UTC") from None
    return zone


def _region(raw: str, name: str) -> str:
    region = raw.strip().upper()
    if not (len(region) == 2 and region.isascii() and region.isalpha()):
        raise ConfigError(f"{name}={region!r} is not a two-letter country code such as JP")
    return region


def _admin_token(raw: str, name: str) -> str:
    token = raw.strip()
    if len(token) < 24:
        raise ConfigError(
            f"{name} is too short to be a secret: use at least 24 random characters "
            "(or `backline tokens create`)"
        )
    return token


def _log_level(raw: str, name: str) -> str:
    level = raw.strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"{name}={level!r} is not DEBUG, INFO, WARNING or ERROR")
    return level


def _tokens(raw: str, _name: str) -> str:
    return ",".join(auth_tokens(raw))


def _database_url(raw: str, _name: str) -> str:
    return normalise_database_url(raw)


def _local_database(env: Mapping[str, str]) -> str:
    return normalise_database_url(f"sqlite:///{_state_dir(env)}/backline.db")


def _state_dir_path(raw: str, _name: str) -> Path:
    return Path(os.path.abspath(raw.strip()))


def answer_deadline(env: Mapping[str, str]) -> float:
    """BACKLINE_ANSWER_DEADLINE_SECONDS: read on its own too, before the rest of the
    configuration, because it bounds the wait for the secrets the rest may need."""
    value: float = _row("answer_deadline_seconds").read(env)
    return value


@dataclass(frozen=True)
class Config:
    """Process configuration: one field per setting, each a row of the settings table."""

    database_url: str = setting(
        "BACKLINE_DATABASE_URL",
        _database_url,
        "Where the table of numbers and the call log live (SQLite or PostgreSQL).",
        default="",
        fallback=_local_database,
    )
    twilio_auth_token: str = setting(
        "BACKLINE_TWILIO_AUTH_TOKEN",
        _tokens,
        "The auth token(s) that sign Twilio's requests, separated by commas.",
        default="",
        also=("TWILIO_AUTH_TOKEN",),
    )
    public_url: str = setting(
        "BACKLINE_PUBLIC_URL",
        _checked(lambda raw, _name: public_base_url(raw)),
        "The base URL Twilio requests, as configured in Twilio.",
        default="",
    )
    state_dir: Path = setting(  # noqa: RUF009 (a row of the table; the default is a factory)
        "BACKLINE_STATE_DIR",
        _state_dir_path,
        "A local directory for the journal and the saved copy of the table.",
        factory=default_state_dir,
        fallback=lambda env: _state_dir(env),
    )
    insecure_demo: bool = setting(
        "BACKLINE_INSECURE_DEMO", _flag, "Answer without checking signatures.", default=False
    )
    snapshot_refresh_seconds: float = setting(
        "BACKLINE_SNAPSHOT_REFRESH_SECONDS",
        _seconds(0.2, 3600),
        "How often the in-memory table of numbers is reloaded.",
        default=2.0,
    )
    db_timeout_seconds: float = setting(
        "BACKLINE_DB_TIMEOUT_SECONDS",
        _seconds(0.1, 30),
        "The longest an answer waits for the database.",
        default=2.0,
    )
    writer_process: bool = setting(
        "BACKLINE_WRITER_PROCESS",
        _flag,
        "Write call records from a process of their own (serve only).",
        default=True,
    )
    answer_deadline_seconds: float = setting(
        "BACKLINE_ANSWER_DEADLINE_SECONDS",
        _seconds(0.5, 25),
        "On AWS Lambda, the longest an answer may take.",
        default=2.5,
    )
    request_timeout_seconds: float = setting(
        "BACKLINE_REQUEST_TIMEOUT_SECONDS",
        _seconds(0.5, 60),
        "How long a connection to serve may take to deliver a whole request.",
        default=5.0,
    )
    last_resort_forward_to: str = setting(
        "BACKLINE_LAST_RESORT_FORWARD_TO",
        _checked(e164_named),
        "An E.164 number to forward to when nothing else is known.",
        default="",
    )
    log_level: str = setting(
        "BACKLINE_LOG_LEVEL", _log_level, "DEBUG, INFO, WARNING or ERROR.", default="INFO"
    )
    log_format: str = setting(
        "BACKLINE_LOG_FORMAT", _one_of("text", "json"), "text or json lines.", default="text"
    )
    timezone: str = setting(
        "BACKLINE_TIMEZONE",
        _time_zone,
        "The zone of every time shown to a person: messages to the team and CLI output.",
        default="Asia/Tokyo",
        also=("BACKLINE_NOTIFY_TIMEZONE",),
    )
    host: str = setting(
        "BACKLINE_HOST", _text, "The address serve and demo listen on.", default="127.0.0.1"
    )
    port: int = setting(
        "BACKLINE_PORT", _whole(1, 65535), "The port serve and demo listen on.", default=8000
    )
    # -- notifications ("tell the team"); see docs/notifications.md --------------------------
    notify_language: Language = setting(  # noqa: RUF009 (a row of the table)
        "BACKLINE_NOTIFY_LANGUAGE", _language, "The language of the messages.", default="ja"
    )
    notify_in_serve: bool = setting(
        "BACKLINE_NOTIFY_IN_SERVE",
        _flag,
        "Run the dispatcher inside backline serve.",
        default=True,
    )
    notify_quiet_seconds: float = setting(
        "BACKLINE_NOTIFY_QUIET_SECONDS",
        _seconds(0, 86400),
        "After this long without a diverted call, an outage is over.",
        default=600.0,
    )
    notify_summary_seconds: float = setting(
        "BACKLINE_NOTIFY_SUMMARY_SECONDS",
        _seconds(0, 86400),
        "During an outage, one summary per channel at most this often.",
        default=300.0,
    )
    notify_min_interval_seconds: float = setting(
        "BACKLINE_NOTIFY_MIN_INTERVAL_SECONDS",
        _seconds(0, 60),
        "The shortest time between two messages to one channel.",
        default=1.0,
    )
    notify_send_timeout_seconds: float = setting(
        "BACKLINE_NOTIFY_SEND_TIMEOUT_SECONDS",
        _seconds(0.1, 120),
        "How long one delivery may take.",
        default=10.0,
    )
    notify_retry_base_seconds: float = setting(
        "BACKLINE_NOTIFY_RETRY_BASE_SECONDS",
        _seconds(0.01, 3600),
        "The first wait before a failed delivery is tried again.",
        default=2.0,
    )
    notify_retry_max_seconds: float = setting(
        "BACKLINE_NOTIFY_RETRY_MAX_SECONDS",
        _seconds(0.01, 86400),
        "The longest wait between two tries.",
        default=600.0,
    )
    notify_max_attempts: int = setting(
        "BACKLINE_NOTIFY_MAX_ATTEMPTS",
        _whole(1, 1000),
        "How many times one message is tried before it is given up.",
        default=20,
    )
    notify_poll_seconds: float = setting(
        "BACKLINE_NOTIFY_POLL_SECONDS",
        _seconds(0.05, 60),
        "How often a dispatcher looks for work when nothing woke it.",
        default=1.0,
    )
    notify_workers: int = setting(
        "BACKLINE_NOTIFY_WORKERS",
        _whole(1, 64),
        "How many deliveries one dispatcher makes at once.",
        default=8,
    )
    allow_private_channels: bool = setting(
        "BACKLINE_ALLOW_PRIVATE_CHANNELS",
        _flag,
        "Let channels point at this machine and link-local addresses.",
        default=False,
    )
    smtp_host: str = setting(
        "BACKLINE_SMTP_HOST", _text, "The SMTP server e-mail channels send through.", default=""
    )
    smtp_port: int = setting("BACKLINE_SMTP_PORT", _whole(1, 65535), "Its port.", default=587)
    smtp_user: str = setting(
        "BACKLINE_SMTP_USER", _as_given, "The user to log in as; none when empty.", default=""
    )
    smtp_password: str = setting("BACKLINE_SMTP_PASSWORD", _as_given, "Its password.", default="")
    smtp_from: str = setting(
        "BACKLINE_SMTP_FROM", _text, "The sender address of the mails.", default=""
    )
    smtp_security: str = setting(
        "BACKLINE_SMTP_SECURITY",
        _one_of("starttls", "tls", "none"),
        "starttls, tls or none.",
        default="starttls",
    )
    smtp_ca_file: str = setting(
        "BACKLINE_SMTP_CA_FILE",
        _text,
        "A PEM file of the authorities to trust for the SMTP server.",
        default="",
    )
    twilio_account_sid: str = setting(
        "BACKLINE_TWILIO_ACCOUNT_SID",
        _text,
        "The Twilio account that audit and sync read, and that sends SMS.",
        default="",
        also=("TWILIO_ACCOUNT_SID",),
    )
    sms_from: str = setting(
        "BACKLINE_SMS_FROM",
        _checked(e164_named),
        "The Twilio number SMS are sent from.",
        default="",
    )
    twilio_api_url: str = setting(
        "BACKLINE_TWILIO_API_URL",
        _checked(lambda raw, name: http_url(raw, what=name).rstrip("/")),
        "The base URL of Twilio's REST API.",
        default="https://api.twilio.com",
    )
    # An API key for Twilio's REST API (account audit and sync), instead of the auth token.
    twilio_api_key: str = setting(
        "BACKLINE_TWILIO_API_KEY", _text, "An API key's SID for audit and sync.", default=""
    )
    twilio_api_secret: str = setting(
        "BACKLINE_TWILIO_API_SECRET", _text, "The API key's secret.", default="", secret=True
    )
    # -- management side ------------------------------------------------------------------------
    default_region: str = setting(
        "BACKLINE_DEFAULT_REGION",
        _region,
        "The country of numbers typed without a country code.",
        default="",
    )
    admin_token: str = setting(
        "BACKLINE_ADMIN_TOKEN",
        _admin_token,
        "A bearer token for the REST API and the web admin (docs/admin.md).",
        default="",
        secret=True,
    )

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
        values: dict[str, Any] = {row.field: row.read(env) for row in SETTINGS}
        return cls(**values)

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


def _rows() -> tuple[Setting[Any], ...]:
    rows = []
    for item in fields(Config):
        row: Setting[Any] = item.metadata["setting"]
        rows.append(replace(row, field=item.name))
    return tuple(rows)


#: The settings table, in the order of :class:`Config`'s fields.
SETTINGS: tuple[Setting[Any], ...] = _rows()


def _row(name: str) -> Setting[Any]:
    return next(row for row in SETTINGS if row.field == name)


# The environment variables backline reads (the documentation and the SAM template are checked
# against it).
ENVIRONMENT: tuple[str, ...] = (
    *(row.env for row in SETTINGS),
    *(name for row in SETTINGS for name in row.also),
    "XDG_STATE_HOME",
)
