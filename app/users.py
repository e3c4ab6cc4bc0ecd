"""Who may use the HTTP API: users with a role and an argon2 password hash, and API tokens for
machines — kept in the service's alert state database (tables ``users`` and ``api_tokens``,
migration 0003), so one file holds everything the service decides and who decided it.

Passwords are hashed with argon2id (argon2-cffi's `PasswordHasher` defaults) and never stored or
logged. A token is ``rc_`` followed by 32 random bytes (URL-safe base64); it is shown once, when
made, and only its SHA-256 is kept: a copy of the database lets nobody in. (SHA-256 suffices for
a token — it carries 256 bits of randomness, so there is nothing to guess; argon2's slowness is
for passwords people choose.)

Roles are ordered: ``viewer`` (read everything) < ``responder`` (acknowledge, silence) <
``admin`` (reload configuration, manage users and tokens); ``role >= Role.RESPONDER`` asks
whether a user may acknowledge.

Browser sessions live in the same database (table ``sessions``, migration 0004): only the SHA-256
of a session id is stored, with its user, its CSRF token and when it ends, so a restart of the
service or another API replica on the same database keeps a login, and a copy of the database
holds no usable cookie.

Verifying a token or a session (and looking up a user) is answered from memory for
``cache_s`` seconds after the database last answered it (``api.auth_cache_s``; off by default,
5 s in `repoclimate serve`): the API asks on every request, and the query cost more than a room's
status. Every change made through this `UserStore` (revoking a token, ending a session,
removing a user, a new role or password) empties the memory at once; a change made by another
process — ``repoclimate users remove`` or ``tokens revoke`` from the shell, a logout at another
replica — takes effect here within ``cache_s`` seconds. An expiry time is checked on every
answer, cached or not.
"""

from __future__ import annotations

import builtins
import enum
import hashlib
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cachetools import TTLCache
from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from repoclimate.alerts.clock import Clock, SystemClock
from repoclimate.alerts.state.database import begin, describe, open_state
from repoclimate.alerts.state.schema import api_tokens, iso, opt_time, parse_iso, sessions, users

TOKEN_PREFIX = "rc_"
MIN_PASSWORD_LENGTH = 8
MAX_SESSIONS = 10_000
"""Live sessions kept at most; past it a login ends the oldest (a flood of logins with a valid
password cannot fill the database)."""
MAX_CACHED = 10_000
"""Verified tokens, sessions and users remembered at most (per kind)."""

_T = TypeVar("_T")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class Role(enum.StrEnum):
    """What a user may do; compares by rank (``viewer < responder < admin``), not by name."""

    VIEWER = "viewer"
    RESPONDER = "responder"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self.value]

    def __lt__(self, other: object) -> bool:
        return self.rank < Role(other).rank if isinstance(other, str) else NotImplemented

    def __le__(self, other: object) -> bool:
        return self.rank <= Role(other).rank if isinstance(other, str) else NotImplemented

    def __gt__(self, other: object) -> bool:
        return self.rank > Role(other).rank if isinstance(other, str) else NotImplemented

    def __ge__(self, other: object) -> bool:
        return self.rank >= Role(other).rank if isinstance(other, str) else NotImplemented


_RANKS = {"viewer": 0, "responder": 1, "admin": 2}


@dataclass(frozen=True, slots=True)
class User:
    """An authenticated user (what the API's handlers get)."""

    name: str
    role: Role


@dataclass(frozen=True, slots=True)
class Session:
    """One logged-in browser: who (as stored now), the CSRF token its pages send back, and
    when it ends."""

    user: User
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class _Verified:
    """A cached positive answer: the user, and when the credential itself expires."""

    user: User
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """An API token as listed: never its secret."""

    id: int
    user: str
    label: str
    created_at: datetime
    expires_at: datetime | None


class UserError(ValueError):
    """A user or token operation refused; the message says which user or token and why."""


class UnknownUserError(UserError):
    """No user of that name."""


class UnknownTokenError(UserError):
    """No token of that id."""


def hash_token(token: str) -> str:
    """What is stored of a token or a session id: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise UserError(
            f"user name {name!r}: 1–64 letters, digits and . _ @ -, starting with a letter or digit"
        )
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return password


class UserStore:
    """Users and API tokens in the alert state database at ``target`` (a file, ``":memory:"``
    or an SQLAlchemy URL, as `alerts.state.AlertStore`; opening migrates it).

    Safe to share between threads and with other processes on the same file: the CLI adds a
    user while the service runs, and the service sees it on the next request (a removal or a
    revocation by another process within ``cache_s`` seconds, see the module's docstring).
    """

    def __init__(
        self,
        target: Path | str,
        *,
        clock: Clock | None = None,
        hasher: PasswordHasher | None = None,
        cache_s: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
        max_sessions: int = MAX_SESSIONS,
    ) -> None:
        if cache_s < 0:
            raise ValueError(f"cache_s must be ≥ 0 s, not {cache_s}")
        self.where = describe(target)
        self._engine = open_state(target)
        self._clock = clock or SystemClock()
        self._hasher = hasher or PasswordHasher()
        self._decoy: str | None = None
        self.cache_s = cache_s
        self.max_sessions = max_sessions
        self._cache_lock = threading.Lock()
        self._tokens: TTLCache[str, _Verified] = TTLCache(MAX_CACHED, cache_s or 1, monotonic)
        self._sessions: TTLCache[str, Session] = TTLCache(MAX_CACHED, cache_s or 1, monotonic)
        self._users: TTLCache[str, User] = TTLCache(MAX_CACHED, cache_s or 1, monotonic)

    def close(self) -> None:
        self._engine.dispose()

    def forget(self) -> None:
        """Empty the in-process cache of verified tokens, sessions and users."""
        with self._cache_lock:
            self._tokens.clear()
            self._sessions.clear()
            self._users.clear()

    def _cached(self, cache: TTLCache[str, _T], key: str) -> _T | None:
        if not self.cache_s:
            return None
        with self._cache_lock:
            return cache.get(key)

    def _remember(self, cache: TTLCache[str, _T], key: str, value: _T) -> None:
        if self.cache_s:
            with self._cache_lock:
                cache[key] = value

    def _write(self) -> _Tx:
        return _Tx(self._engine.connect(), write=True)

    def _read(self) -> _Tx:
        return _Tx(self._engine.connect(), write=False)

    # -- users ---------------------------------------------------------------------------
    def add(self, name: str, password: str, role: Role | str = Role.VIEWER) -> User:
        """A new user; `UserError` if the name is taken or name or password is unfit."""
        user = User(check_name(name), Role(role))
        hashed = self._hasher.hash(check_password(password))
        now = iso(self._clock.now())
        try:
            with self._write() as conn:
                conn.execute(
                    insert(users).values(
                        name=user.name,
                        role=user.role.value,
                        password_hash=hashed,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            raise UserError(f"user {name!r} exists already ({self.where})") from None
        return user

    def passwd(self, name: str, password: str) -> None:
        """Set a user's password; `UnknownUserError` if there is none of that name."""
        hashed = self._hasher.hash(check_password(password))
        self._update(name, password_hash=hashed)

    def set_role(self, name: str, role: Role | str) -> None:
        self._update(name, role=Role(role).value)

    def _update(self, name: str, **values: str) -> None:
        self.forget()
        with self._write() as conn:
            done = conn.execute(
                update(users)
                .where(users.c.name == name)
                .values(updated_at=iso(self._clock.now()), **values)
            )
            if done.rowcount == 0:
                raise UnknownUserError(f"no user {name!r} in {self.where}")

    def remove(self, name: str) -> None:
        """Remove a user, every token and every session of theirs."""
        self.forget()
        with self._write() as conn:
            conn.execute(delete(api_tokens).where(api_tokens.c.user_name == name))
            conn.execute(delete(sessions).where(sessions.c.user_name == name))
            if conn.execute(delete(users).where(users.c.name == name)).rowcount == 0:
                raise UnknownUserError(f"no user {name!r} in {self.where}")

    def list(self) -> list[User]:
        """Every user, by name."""
        with self._read() as conn:
            rows = conn.execute(select(users.c.name, users.c.role).order_by(users.c.name))
            return [User(row.name, Role(row.role)) for row in rows]

    def get(self, name: str) -> User | None:
        """The user of that name, or None."""
        known = self._cached(self._users, name)
        if known is not None:
            return known
        with self._read() as conn:
            row = conn.execute(select(users.c.role).where(users.c.name == name)).first()
        if row is None:
            return None
        user = User(name, Role(row.role))
        self._remember(self._users, name, user)
        return user

    def authenticate(self, name: str, password: str) -> User | None:
        """The user, if the password is theirs; else None (wrong password or no such user)."""
        with self._read() as conn:
            row = conn.execute(
                select(users.c.role, users.c.password_hash).where(users.c.name == name)
            ).first()
        if row is None:
            # As slow as a real check, so the answer's timing does not tell which names exist.
            if self._decoy is None:
                self._decoy = self._hasher.hash(secrets.token_hex(16))
            self._verify(self._decoy, password)
            return None
        if not self._verify(row.password_hash, password):
            return None
        if self._hasher.check_needs_rehash(row.password_hash):  # parameters raised since
            self._update(name, password_hash=self._hasher.hash(password))
        return User(name, Role(row.role))

    def _verify(self, hashed: str, password: str) -> bool:
        try:
            return self._hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False

    # -- tokens --------------------------------------------------------------------------
    def create_token(self, name: str, label: str = "", expires_in: timedelta | None = None) -> str:
        """A new API token for user ``name``: returned once, stored only as its hash."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self._clock.now()
        with self._write() as conn:
            if conn.execute(select(users.c.name).where(users.c.name == name)).first() is None:
                raise UnknownUserError(f"no user {name!r} in {self.where}")
            conn.execute(
                insert(api_tokens).values(
                    token_hash=hash_token(token),
                    user_name=name,
                    label=label,
                    created_at=iso(now),
                    expires_at=None if expires_in is None else iso(now + expires_in),
                )
            )
        return token

    def verify_token(self, token: str) -> User | None:
        """The user a token belongs to, if it is known and not expired; else None."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        key = hash_token(token)
        verified = self._cached(self._tokens, key)
        if verified is None:
            with self._read() as conn:
                row = conn.execute(
                    select(users.c.name, users.c.role, api_tokens.c.expires_at)
                    .join(users, users.c.name == api_tokens.c.user_name)
                    .where(api_tokens.c.token_hash == key)
                ).first()
            if row is None:
                return None
            verified = _Verified(User(row.name, Role(row.role)), opt_time(row.expires_at))
            self._remember(self._tokens, key, verified)
        if verified.expires_at is not None and verified.expires_at <= self._clock.now():
            return None
        return verified.user

    def list_tokens(self, name: str | None = None) -> builtins.list[TokenInfo]:
        query = select(api_tokens).order_by(api_tokens.c.id)
        if name is not None:
            query = query.where(api_tokens.c.user_name == name)
        with self._read() as conn:
            return [
                TokenInfo(
                    row.id,
                    row.user_name,
                    row.label,
                    parse_iso(row.created_at),
                    opt_time(row.expires_at),
                )
                for row in conn.execute(query)
            ]

    def revoke_token(self, token_id: int) -> None:
        """Delete a token by its id (as `list_tokens` shows it); it stops working at once."""
        self.forget()
        with self._write() as conn:
            if conn.execute(delete(api_tokens).where(api_tokens.c.id == token_id)).rowcount == 0:
                raise UnknownTokenError(f"no API token {token_id} in {self.where}")

    # -- browser sessions ------------------------------------------------------------------
    def create_session(self, name: str, ttl: timedelta) -> tuple[str, Session]:
        """A new session for user ``name`` ending ``ttl`` from now: its id (for the cookie,
        never stored) and the session. Expired sessions are deleted on the way."""
        session_id = secrets.token_urlsafe(32)
        now = self._clock.now()
        with self._write() as conn:
            row = conn.execute(select(users.c.role).where(users.c.name == name)).first()
            if row is None:
                raise UnknownUserError(f"no user {name!r} in {self.where}")
            conn.execute(delete(sessions).where(sessions.c.expires_at <= iso(now)))
            live = conn.execute(select(func.count()).select_from(sessions)).scalar_one()
            if live >= self.max_sessions:
                oldest = (
                    select(sessions.c.id_hash)
                    .order_by(sessions.c.created_at)
                    .limit(live - self.max_sessions + 1)
                )
                conn.execute(
                    delete(sessions).where(sessions.c.id_hash.in_(oldest.scalar_subquery()))
                )
                self.forget()
            session = Session(User(name, Role(row.role)), secrets.token_urlsafe(32), now + ttl)
            conn.execute(
                insert(sessions).values(
                    id_hash=hash_token(session_id),
                    user_name=name,
                    csrf_token=session.csrf_token,
                    created_at=iso(now),
                    expires_at=iso(session.expires_at),
                )
            )
        return session_id, session

    def session(self, session_id: str) -> Session | None:
        """The live session of an id, with its user as stored now; None when the id is
        unknown, ended or expired, or its user is gone."""
        key = hash_token(session_id)
        session = self._cached(self._sessions, key)
        if session is None:
            with self._read() as conn:
                row = conn.execute(
                    select(users.c.name, users.c.role, sessions.c.csrf_token, sessions.c.expires_at)
                    .join(users, users.c.name == sessions.c.user_name)
                    .where(sessions.c.id_hash == key)
                ).first()
            if row is None:
                return None
            session = Session(
                User(row.name, Role(row.role)), row.csrf_token, parse_iso(row.expires_at)
            )
            self._remember(self._sessions, key, session)
        if session.expires_at <= self._clock.now():
            return None
        return session

    def end_session(self, session_id: str) -> None:
        """End a session (logout); an unknown id is no error."""
        key = hash_token(session_id)
        with self._cache_lock:
            self._sessions.pop(key, None)
        with self._write() as conn:
            conn.execute(delete(sessions).where(sessions.c.id_hash == key))


class _Tx:
    """One transaction on its own connection: committed on success, rolled back on error."""

    def __init__(self, conn: Connection, *, write: bool) -> None:
        self._conn = conn
        self._write = write

    def __enter__(self) -> Connection:
        self._conn.begin()
        begin(self._conn, write=self._write)
        return self._conn

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        try:
            if exc_type is None:
                self._conn.commit()
            else:
                self._conn.rollback()
        finally:
            self._conn.close()
