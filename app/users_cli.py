"""``repoclimate users add|passwd|remove|list`` and ``repoclimate tokens add|list|revoke``: the
people and machines allowed into the HTTP API, kept in the service's alert state database
(``alerts.state_url`` or ``alerts.state_path``; `repoclimate.app.users`).

Passwords are asked for twice at a prompt that does not echo, or read from standard input with
``--password-stdin`` (one line: for scripts); they are never taken as an argument (it would
stay in the shell history and the process list) and never printed. A new API token is printed
once, on standard output alone, so ``TOKEN=$(repoclimate tokens add …)`` works; only its hash is
kept.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from repoclimate.alerts.state import StateError
from repoclimate.app.options import ConfigOption
from repoclimate.app.settings import SettingsError, load_settings
from repoclimate.app.users import Role, UserError, UserStore
from repoclimate.sensors.durations import DurationError, parse_duration

users_app = typer.Typer(
    name="users", help="Users of the HTTP API and their roles.", no_args_is_help=True
)
tokens_app = typer.Typer(
    name="tokens", help="API tokens for machines (Authorization: Bearer).", no_args_is_help=True
)

StateOption = Annotated[
    Path | None,
    typer.Option("--state", help="state database (overrides the config)", show_default=False),
]
PasswordStdinOption = Annotated[
    bool,
    typer.Option("--password-stdin", help="read the password from standard input (one line)"),
]


def _fail(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(1)


@contextmanager
def _users(config: Path | None, state: Path | None) -> Iterator[UserStore]:
    """The users of the configured (or given) state database, closed afterwards; a settings,
    state or user error is one line and exit code 1."""
    target: Path | str | None = state
    if target is None:
        try:
            target = load_settings(config).alerts.state_target()
        except SettingsError as exc:
            _fail(str(exc))
    try:
        store = UserStore(target)
    except StateError as exc:
        _fail(str(exc))
    try:
        yield store
    except UserError as exc:
        _fail(str(exc))
    finally:
        store.close()


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@users_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="user name (letters, digits, . _ @ -)")],
    role: Annotated[
        Role, typer.Option("--role", help="viewer (read), responder (ack, silence), admin")
    ] = Role.VIEWER,
    password_stdin: PasswordStdinOption = False,
    config: ConfigOption = None,
    state: StateOption = None,
) -> None:
    """Add a user with a role; the password is prompted for (or read with --password-stdin)."""
    with _users(config, state) as store:
        user = store.add(name, _password(password_stdin), role)
    typer.echo(f"added {user.name} ({user.role})")


@users_app.command("passwd")
def passwd(
    name: Annotated[str, typer.Argument(help="user name")],
    password_stdin: PasswordStdinOption = False,
    config: ConfigOption = None,
    state: StateOption = None,
) -> None:
    """Set a user's password."""
    with _users(config, state) as store:
        store.passwd(name, _password(password_stdin))
    typer.echo(f"password of {name} changed")


@users_app.command("remove")
def remove(
    name: Annotated[str, typer.Argument(help="user name")],
    config: ConfigOption = None,
    state: StateOption = None,
) -> None:
    """Remove a user and their API tokens."""
    with _users(config, state) as store:
        store.remove(name)
    typer.echo(f"removed {name}")


@users_app.command("list")
def list_users(config: ConfigOption = None, state: StateOption = None) -> None:
    """List the users and their roles."""
    with _users(config, state) as store:
        for user in store.list():
            typer.echo(f"{user.name}\t{user.role}")


@tokens_app.command("add")
def add_token(
    name: Annotated[str, typer.Argument(help="the user the token acts as")],
    label: Annotated[str, typer.Option("--label", help="what the token is for")] = "",
    expires: Annotated[
        str | None,
        typer.Option("--expires", help="valid for this long (90d, 12h); default: until revoked"),
    ] = None,
    config: ConfigOption = None,
    state: StateOption = None,
) -> None:
    """Make an API token for a user; it is printed once, here, and kept only as a hash."""
    try:
        lifetime = None if expires is None else parse_duration(expires)
    except DurationError as exc:
        raise typer.BadParameter(str(exc), param_hint="--expires") from None
    with _users(config, state) as store:
        token = store.create_token(name, label, lifetime)
    typer.echo("the token is shown only now; keep it in a secret store", err=True)
    typer.echo(token)


@tokens_app.command("list")
def list_tokens(
    name: Annotated[str | None, typer.Argument(help="only this user's tokens")] = None,
    config: ConfigOption = None,
    state: StateOption = None,
) -> None:
    """List API tokens: id, user, label, made, expires (never the token)."""
    with _users(config, state) as store:
        for info in store.list_tokens(name):
            expires = info.expires_at.isoformat() if info.expires_at else "never"
            typer.echo(
                f"{info.id}\t{info.user}\t{info.label or '-'}\t"
                f"{info.created_at.isoformat(timespec='seconds')}\t{expires}"
            )


@tokens_app.command("revoke")
def revoke_token(
    token_id: Annotated[int, typer.Argument(help="the token's id, as `tokens list` shows it")],
    config: ConfigOption = None,
    state: StateOption = None,
) -> None:
    """Revoke an API token: it stops working at once."""
    with _users(config, state) as store:
        store.revoke_token(token_id)
    typer.echo(f"revoked token {token_id}")
