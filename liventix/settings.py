"""Application settings: the one place that reads the process environment (and `.env`).

`Settings` is one pydantic-settings model holding every variable the application reads, each
field read from its environment variable, typed, defaulted and described: the source of
`liventix --help`'s list, `liventix config show` and docs/configuration.md (`liventix docs`).
`Settings.from_env()` reads the process environment, then a `.env` file in the working
directory for what the environment leaves unset; empty values count as unset. A value that
cannot be used raises `SettingsInvalid`, one line naming each variable at fault. The value is
frozen; the rest of the application receives it explicitly and never looks at `os.environ`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

import outbox
from liventix.stripe_gateway import StripeSettings

DEFAULT_DATA_DIR = ".liventix"
DEFAULT_DATABASE_NAME = "liventix"
ENV_FILE = ".env"
MASK = "********"
URL_VARIABLES = frozenset({"DATABASE_URL", "LIVENTIX_READ_URL"})
"""Settings holding a database URL: `config show` masks their password only."""

SmtpSecurity = Literal["none", "starttls", "tls"]
LogFormat = Literal["auto", "json", "console"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
Port = Annotated[int, Field(ge=1, le=65535)]


_ONLY_GIVEN: ContextVar[bool] = ContextVar("settings_only_given", default=False)
"""While set, the model reads only what it is given (`Settings.from_env(mapping)`)."""


class SettingsInvalid(ValueError):
    """A setting holds a value the application cannot use (one line, naming the variables)."""


def _allow(spec: object) -> object:
    if isinstance(spec, str):
        try:
            return outbox.parse_allow(spec)
        except ValueError as exc:
            raise ValueError(f"CIDRs, comma-separated: {exc}") from exc
    return spec


def _var(name: str, default: Any, description: str, *, secret: bool = False) -> Any:
    """A field read from the environment variable `name`; a secret is masked by `config
    show` and left out of every repr."""
    return Field(
        default,
        validation_alias=name,
        description=description,
        repr=not secret,
        json_schema_extra={"secret": True} if secret else None,
    )


class Settings(BaseSettings):
    """Where the application's database lives, and how it reaches the outside."""

    model_config = SettingsConfigDict(
        env_file=ENV_FILE,
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
        case_sensitive=True,
    )

    database_url: str | None = _var(
        "DATABASE_URL",
        None,
        "a PostgreSQL server to use instead of the embedded one (any database on it: the "
        "application's own is LIVENTIX_DB_NAME there)",
        secret=True,  # it may hold a password: `config show` masks that part only
    )
    read_url: str | None = _var(
        "LIVENTIX_READ_URL",
        None,
        "a read replica of that server (a PostgreSQL URL; the same database name on it): "
        "finance's reports and the API's list and report endpoints read there, a moment "
        "behind (unset: everything reads the primary)",
        secret=True,  # it may hold a password: `config show` masks that part only
    )
    database_name: Annotated[str, Field(min_length=1, max_length=63)] = _var(
        "LIVENTIX_DB_NAME",
        DEFAULT_DATABASE_NAME,
        "the application's database on the server (created if missing)",
    )
    data_dir: Path = _var(
        "LIVENTIX_DATA_DIR",
        Path(DEFAULT_DATA_DIR),
        "local state: the embedded server lives under it",
    )
    pgdata: Path = _var(
        "LIVENTIX_PGDATA",
        Path(DEFAULT_DATA_DIR) / "pgdata",
        "the embedded server's data directory (default <data dir>/pgdata)",
    )
    secret_key: str | None = _var(
        "LIVENTIX_SECRET_KEY",
        None,
        "the key that seals webhook signing secrets at rest (a long random string, the same "
        "for the API and every worker; unset: a development key that protects nothing)",
        secret=True,
    )
    stripe_webhook_secret: str | None = _var(
        "STRIPE_WEBHOOK_SECRET", None, "the signing secret of Stripe's webhooks to us", secret=True
    )
    stripe_api_key: str = _var(
        "STRIPE_API_KEY", "sk_test_liventix", "Stripe's secret key", secret=True
    )
    stripe_api_base: str | None = _var(
        "STRIPE_API_BASE", None, "a Stripe-compatible server to call instead of Stripe's"
    )
    stripe_max_rps: Annotated[float, Field(ge=0)] | None = _var(
        "LIVENTIX_STRIPE_MAX_RPS",
        None,
        "a process's budget of calls to Stripe a second (a worker's, the CLI's; `liventix "
        "serve`'s processes share one: each takes its share) (a token bucket every call takes "
        "from, the library's retries included; a call whose turn is more than the call's "
        "timeout away is refused as Stripe's 429 would be: an inbox event is deferred "
        "seconds); 0: none. Unset: 30 with a live key, 8 with a test key (the usual "
        "deployment, two workers and the API however many processes it has, stays at 90 of "
        "live mode's 100/s per account, 24 of test mode's 25/s), none with STRIPE_API_BASE "
        "set (a stand-in). Not applied to calls through an HTTP(S)_PROXY (the library's own "
        "client)",
    )
    smtp_host: str = _var("LIVENTIX_SMTP_HOST", "127.0.0.1", "where e-mails are sent")
    smtp_port: Port = _var(
        "LIVENTIX_SMTP_PORT", 25, "its port (587 for STARTTLS, 465 for implicit TLS)"
    )
    smtp_security: SmtpSecurity = _var(
        "LIVENTIX_SMTP_SECURITY",
        "none",
        "how SMTP sessions are secured: none, starttls or tls (starttls is refused when the "
        "server does not offer it, never sent in the clear; tls is implicit TLS)",
    )
    smtp_username: str | None = _var("LIVENTIX_SMTP_USERNAME", None, "the SMTP login, if any")
    smtp_password: str | None = _var(
        "LIVENTIX_SMTP_PASSWORD", None, "the SMTP login's password", secret=True
    )
    smtp_sender: str = _var(
        "LIVENTIX_SMTP_SENDER", "Liventix <no-reply@liventix.example>", "the From of every e-mail"
    )
    smtp_ca_file: Path | None = _var(
        "LIVENTIX_SMTP_CA_FILE",
        None,
        "a CA bundle to verify the SMTP server's certificate with (PEM; default the system's)",
    )
    webhook_allow: Annotated[outbox.AllowList, NoDecode, BeforeValidator(_allow)] = _var(
        "LIVENTIX_WEBHOOK_ALLOW",
        (),
        "CIDRs webhooks may reach although not public, comma-separated (default none: "
        "endpoints must be public addresses)",
    )
    log_format: LogFormat = _var(
        "LIVENTIX_LOG_FORMAT",
        "auto",
        "the logs' format: json, console or auto (console on a terminal, else json)",
    )
    log_level: LogLevel = _var("LIVENTIX_LOG_LEVEL", "INFO", "the least severe level logged")
    access_log: bool = _var(
        "LIVENTIX_ACCESS_LOG",
        True,
        "one log line per API request (method, path, status, duration, request id; false: "
        "none, a few tens of microseconds less per request)",
    )
    metrics_port: Port | None = _var(
        "LIVENTIX_METRICS_PORT", None, "where a worker serves its Prometheus metrics (unset: none)"
    )
    cancel_grace: Annotated[int, Field(ge=0)] = _var(
        "LIVENTIX_CANCEL_GRACE",
        1800,
        "seconds after the sweeper asked Stripe to cancel an expired hold's PaymentIntent "
        "that its seats stay held while Stripe does not answer (unreachable); then the "
        "sweeper releases them anyway and asks again (an intent Stripe said is processing "
        "is asked again each such interval; one it said succeeded waits for its payment)",
    )
    stripe_catchup_interval: Annotated[int, Field(ge=0)] = _var(
        "LIVENTIX_STRIPE_CATCHUP_INTERVAL",
        300,
        "seconds between the worker's reads of Stripe's own list of events (GET /v1/events) "
        "into the inbox, for the webhooks that never arrived (`liventix stripe catch-up` "
        "runs one read at once); counted from the last read any worker began; 0: never. "
        "Only when Stripe is configured (STRIPE_API_BASE set, or STRIPE_API_KEY not the "
        "placeholder default)",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The environment, then `.env`; or only what `from_env` was given."""
        if _ONLY_GIVEN.get():
            return (init_settings,)
        return (init_settings, env_settings, dotenv_settings)

    @model_validator(mode="before")
    @classmethod
    def _pgdata_under_data_dir(cls, values: Any) -> Any:
        if isinstance(values, dict) and not values.get("LIVENTIX_PGDATA"):
            data_dir = values.get("LIVENTIX_DATA_DIR") or DEFAULT_DATA_DIR
            values = {**values, "LIVENTIX_PGDATA": str(Path(data_dir) / "pgdata")}
        return values

    @model_validator(mode="after")
    def _absolute(self) -> Settings:
        # Frozen: the paths are made absolute once, when read.
        object.__setattr__(self, "data_dir", self.data_dir.absolute())
        object.__setattr__(self, "pgdata", self.pgdata.absolute())
        if self.smtp_ca_file is not None:
            if not self.smtp_ca_file.is_file():
                raise ValueError(f"LIVENTIX_SMTP_CA_FILE: no file {self.smtp_ca_file}")
            object.__setattr__(self, "smtp_ca_file", self.smtp_ca_file.absolute())
        if self.smtp_password is not None and self.smtp_username is None:
            raise ValueError("LIVENTIX_SMTP_PASSWORD is set without LIVENTIX_SMTP_USERNAME")
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read settings from `environ` (default: the process environment, then `.env`);
        empty values count as unset. Raises SettingsInvalid."""
        try:
            if environ is None:
                return cls()
            known = {v.name for v in variables()}
            token = _ONLY_GIVEN.set(True)
            try:
                return cls.model_validate({k: v for k, v in environ.items() if k in known and v})
            finally:
                _ONLY_GIVEN.reset(token)
        except ValidationError as error:
            raise SettingsInvalid(_one_line(error)) from None

    def stripe_configured(self) -> bool:
        """Whether Stripe is configured: a Stripe-compatible server named, or a key other
        than the placeholder default (which Stripe refuses): the worker's reads of Stripe's
        events run only then."""
        placeholder = type(self).model_fields["stripe_api_key"].default
        return self.stripe_api_base is not None or self.stripe_api_key != placeholder

    def stripe(self) -> StripeSettings:
        """How this process reaches Stripe: key, API base and budget of calls a second."""
        return StripeSettings(
            self.stripe_api_key, self.stripe_api_base, max_rps=self.stripe_max_rps
        )

    def smtp(self) -> outbox.SmtpSettings:
        """What the outbox's worker needs to send e-mail."""
        return outbox.SmtpSettings(
            host=self.smtp_host,
            port=self.smtp_port,
            sender=self.smtp_sender,
            security=self.smtp_security,
            username=self.smtp_username,
            password=self.smtp_password,
            ca_file=None if self.smtp_ca_file is None else str(self.smtp_ca_file),
        )

    def shown(self, environ: Mapping[str, str]) -> Iterator[tuple[str, str, str]]:
        """(variable, value, source) for every setting, secrets masked, as `config show`
        prints; the source is `environment`, `.env` or `default`, given the environment."""
        from_file = _env_file_values()
        for variable in variables():
            value = variable.show(getattr(self, variable.field))
            if environ.get(variable.name):
                source = "environment"
            elif from_file.get(variable.name):
                source = ENV_FILE
            else:
                source = "default"
            yield variable.name, value, source


@dataclass(frozen=True)
class Variable:
    """One environment variable: its name, the field it fills, its default, its text."""

    name: str
    field: str
    default: str
    kind: str
    description: str
    secret: bool

    @property
    def masking(self) -> str:
        """What `config show` hides of it, said in words (empty: nothing)."""
        if self.name in URL_VARIABLES:
            return "its password is masked by `config show`"
        return "masked by `config show`" if self.secret else ""

    def show(self, value: object) -> str:
        """The value as `config show` prints it: a secret masked (a URL's password only)."""
        if value is None or value == ():
            return "(unset)"
        if self.name in URL_VARIABLES:
            return _without_password(str(value))
        if self.secret:
            return MASK
        if isinstance(value, tuple):
            return ",".join(str(v) for v in value)
        return str(value)


def variables() -> list[Variable]:
    """Every environment variable the application reads, in the model's order."""
    found = []
    for field, info in Settings.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        default = info.default
        found.append(
            Variable(
                name=str(info.validation_alias),
                field=field,
                default="" if default in (None, ()) else str(default),
                kind=_kind(info.annotation),
                description=info.description or "",
                secret=bool(extra.get("secret")),
            )
        )
    return found


def _kind(annotation: Any) -> str:
    text = str(annotation).replace("typing.", "").replace("pathlib.", "")
    if "Literal" in text:
        return " | ".join(text.split("[", 1)[1].rstrip("]").replace("'", "").split(", "))
    kinds: tuple[tuple[str, str], ...] = (
        ("Network", "CIDRs"),
        ("Path", "path"),
        ("bool", "true or false"),
        ("int", "integer"),
        ("float", "number"),
    )
    for word, kind in kinds:
        if word in text:
            return kind
    return "text"


def _env_file_values() -> dict[str, str | None]:
    from dotenv import dotenv_values  # noqa: PLC0415 (pydantic-settings' own reader)

    return dict(dotenv_values(ENV_FILE)) if Path(ENV_FILE).is_file() else {}


def _without_password(url: str) -> str:
    from sqlalchemy.engine import make_url  # noqa: PLC0415 (only `config show` needs it)
    from sqlalchemy.exc import ArgumentError  # noqa: PLC0415

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return MASK


def _one_line(error: ValidationError) -> str:
    parts = []
    for problem in error.errors(include_url=False):
        where = ".".join(str(p) for p in problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        given = problem.get("input")
        shown = f" (got {given!r})" if isinstance(given, str) and not _secret_at(where) else ""
        parts.append(f"{where}: {message}{shown}" if where else f"{message}")
    return "; ".join(parts)


def _secret_at(name: str) -> bool:
    return any(v.secret for v in variables() if v.name == name)
