"""Who is calling the API and what they may do: browser sessions, machine tokens, roles, CSRF.

Two ways in:

- Browsers log in with ``POST /api/login`` (name and password, checked by the user store). The
  answer sets a session cookie — ``Secure``, ``HttpOnly``, ``SameSite=Strict`` — holding a random
  256-bit session id; the sessions themselves live in the service's state database
  (`SessionStore` over `UserStore`, only a hash of the id is kept), so a restart or another API
  replica keeps the login, logging out ends it everywhere, and nothing about the user travels in
  the cookie or the URL. Every request that changes something and rides on the cookie must also
  carry the session's CSRF token (synchronizer token: header ``X-CSRF-Token`` or a form field
  ``csrf_token``), which the login answer and ``GET /api/session`` give to the page.
- Machines send ``Authorization: Bearer <token>`` with an API token from ``repoclimate tokens
  add``; no cookie, so no CSRF token is needed.

Roles rank ``viewer`` < ``responder`` < ``admin``: `require` (role) is the dependency every route
declares; anonymous callers get 401, under-privileged ones 403. Reads need ``viewer``, or nobody
at all when ``api.public_read`` is true. Failed logins are counted per remote address
(`LoginLimiter`) and logged with that address, never with the password.

Tokens and sessions are verified against the database at most once per ``api.auth_cache_s``
seconds per process (see `repoclimate.app.users`): a logout or revocation in this process
applies at once, one made elsewhere (the CLI, another replica) within that time.
"""

import hmac
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request, Response, status
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from repoclimate.app.api.errors import AUTH_RESPONSES, described
from repoclimate.app.services import Services
from repoclimate.app.users import Role, Session, User, UserStore

logger = logging.getLogger(__name__)

SESSION_COOKIE = "repoclimate_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SESSION_TTL_S = 12 * 3600.0
"""A browser session ends this long after login [s] (``api.session_max_age_s``)."""
LOGIN_FAILURES = 10
"""Failed logins allowed from one remote address within `LOGIN_WINDOW_S`."""
LOGIN_WINDOW_S = 300.0
MAX_ADDRESSES = 100_000
"""Remote addresses whose failed logins are remembered at most."""

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Monotonic = Callable[[], float]


class SessionStore:
    """Browser sessions in the user store's database, by the hash of their id (the id is only
    in the cookie); each ends ``ttl_s`` after login or at logout."""

    def __init__(self, users: UserStore, ttl_s: float = SESSION_TTL_S) -> None:
        self.users = users
        self.ttl_s = ttl_s

    def create(self, user: User) -> tuple[str, Session]:
        """A new session for ``user``: its id (for the cookie) and the session."""
        return self.users.create_session(user.name, timedelta(seconds=self.ttl_s))

    def get(self, session_id: str) -> Session | None:
        """The live session of an id, or None (unknown, ended, expired, or its user gone)."""
        return self.users.session(session_id)

    def end(self, session_id: str) -> None:
        self.users.end_session(session_id)


class LoginLimiter:
    """Failed logins per remote address in a sliding window; over the limit, logins are refused
    (429) until the oldest failure leaves the window."""

    def __init__(
        self,
        failures: int = LOGIN_FAILURES,
        window_s: float = LOGIN_WINDOW_S,
        monotonic: Monotonic = time.monotonic,
    ) -> None:
        self.failures = failures
        self.window_s = window_s
        self._monotonic = monotonic
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, address: str, now: float) -> deque[float]:
        times = self._seen.setdefault(address, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def retry_after(self, address: str) -> float | None:
        """Seconds until ``address`` may try again, or None when it may now."""
        now = self._monotonic()
        with self._lock:
            times = self._recent(address, now)
            if len(times) < self.failures:
                if not times:
                    del self._seen[address]
                return None
            return max(times[0] + self.window_s - now, 0.0)

    def failed(self, address: str) -> None:
        now = self._monotonic()
        with self._lock:
            if address not in self._seen and len(self._seen) >= MAX_ADDRESSES:
                # Forget the address whose latest failure is oldest (many addresses at once are
                # an attack the per-address limit cannot stop anyway; memory stays bounded).
                stale = min(self._seen, key=lambda a: self._seen[a][-1] if self._seen[a] else 0.0)
                del self._seen[stale]
            self._recent(address, now).append(now)


class Auth:
    """The authentication state of one app: its sessions and its login limiter."""

    def __init__(
        self,
        services: Services,
        sessions: SessionStore | None = None,
        limiter: LoginLimiter | None = None,
    ) -> None:
        self.services = services
        self.sessions = sessions or SessionStore(
            services.users, float(services.settings.api.session_max_age_s)
        )
        self.limiter = limiter or LoginLimiter()
        self.cookie_secure = services.settings.api.cookie_secure
        """False only behind plain HTTP on a trusted network (``api.cookie_secure``)."""

    @property
    def public_read(self) -> bool:
        return bool(self.services.settings.api.public_read)


# These two are ``async`` though they do not wait for anything: FastAPI runs a plain ``def``
# dependency in its thread pool, and two thread hand-offs per request cost more than the whole
# room-status query (bench/api.py).
async def get_services(request: Request) -> Services:
    """The app's `Services` (set by `create_app`)."""
    services: Services = request.app.state.services
    return services


async def get_auth(request: Request) -> Auth:
    auth: Auth = request.app.state.auth
    return auth


def remote_address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


# The security schemes, declared so the OpenAPI schema says how to authenticate; neither raises
# by itself (``auto_error=False``): `current_user` decides.
_bearer = HTTPBearer(auto_error=False, description="An API token (`repoclimate tokens add`).")
_cookie = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, description="Browser session from POST /api/login."
)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who made a request, and how: ``session`` is set for cookie sessions (CSRF applies)."""

    user: User
    session: Session | None = None


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"}
    )


async def _csrf_token_of(request: Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


async def current_caller(
    request: Request,
    auth: Annotated[Auth, Depends(get_auth)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    session_id: Annotated[str | None, Depends(_cookie)],
) -> Caller | None:
    """The caller of a request, or None when anonymous.

    A bearer token wins over a cookie; an invalid or expired token or session is refused (401)
    rather than treated as anonymous, so a client learns its credential is bad. A cookie-borne
    request with an unsafe method must carry the session's CSRF token (403 otherwise).
    """
    if bearer is not None:
        user = auth.services.users.verify_token(bearer.credentials)
        if user is None:
            raise _unauthorized("invalid or expired API token")
        return Caller(user)
    if session_id is None:
        return None
    # The user as stored now: a removed user's session ends, a changed role applies.
    session = auth.sessions.get(session_id)
    if session is None:
        raise _unauthorized("session expired or unknown: log in again")
    user = session.user
    if request.method not in SAFE_METHODS:
        sent = await _csrf_token_of(request)
        if sent is None or not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong CSRF token")
    return Caller(user, session)


async def current_user(
    caller: Annotated[Caller | None, Depends(current_caller)],
) -> User | None:
    """The calling user, or None when anonymous."""
    return None if caller is None else caller.user


RoleCheck = Callable[..., Awaitable[User | None]]


def require(role: Role) -> RoleCheck:
    """A dependency admitting callers of ``role`` or above: 401 for anonymous, 403 for less.

    ``require(Role.VIEWER)`` on a GET route also admits anonymous callers when
    ``api.public_read`` is true (the user is then None); a route that changes something never
    does.
    """

    async def check(
        request: Request,
        auth: Annotated[Auth, Depends(get_auth)],
        user: Annotated[User | None, Depends(current_user)],
    ) -> User | None:
        if user is None:
            if role is Role.VIEWER and request.method in SAFE_METHODS and auth.public_read:
                return None
            raise _unauthorized("log in or send an API token")
        if Role(user.role) < role:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"needs role {role.value}; {user.name} is {user.role}"
            )
        return user

    return check


def require_user(role: Role) -> Callable[..., Awaitable[User]]:
    """Like `require`, for routes that act: never anonymous, and returns the `User`."""
    check = require(role)

    async def acting(user: Annotated[User | None, Depends(check)]) -> User:
        if user is None:  # only reachable for safe methods with public read
            raise _unauthorized("log in or send an API token")
        return user

    return acting


# -- login, logout, who am I -----------------------------------------------------------------

router = APIRouter(prefix="/api", tags=["session"])


class SessionInfo(BaseModel):
    """The logged-in user and the CSRF token to send with changes (``X-CSRF-Token``)."""

    name: str
    role: str
    csrf_token: str | None = None
    """Null for API-token callers: they need none."""


@router.post(
    "/login",
    response_model=SessionInfo,
    responses={
        401: described("Wrong name or password"),
        429: described("Too many failed logins from this address"),
    },
)
def login(
    request: Request,
    response: Response,
    auth: Annotated[Auth, Depends(get_auth)],
    username: Annotated[str, Form(max_length=256)],
    password: Annotated[str, Form(max_length=1024)],
) -> SessionInfo:
    """Log in with name and password: sets the session cookie, returns the CSRF token."""
    address = remote_address(request)
    wait = auth.limiter.retry_after(address)
    if wait is not None:
        logger.warning("login refused for %r from %s: too many failures", username, address)
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many failed logins from this address; try again later",
            headers={"Retry-After": str(max(int(wait + 0.999), 1))},
        )
    user = auth.services.users.authenticate(username, password)
    if user is None:
        auth.limiter.failed(address)
        logger.warning("failed login for %r from %s", username, address)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong name or password")
    session_id, session = auth.sessions.create(user)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(auth.sessions.ttl_s),
        secure=auth.cookie_secure,
        httponly=True,
        samesite="strict",
        path="/",
    )
    logger.info("login of %s (%s) from %s", user.name, user.role, address)
    return SessionInfo(name=user.name, role=str(user.role), csrf_token=session.csrf_token)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=AUTH_RESPONSES,
    dependencies=[Depends(require(Role.VIEWER))],
)
def logout(
    response: Response,
    auth: Annotated[Auth, Depends(get_auth)],
    session_id: Annotated[str | None, Depends(_cookie)],
) -> None:
    """End the browser session (a no-op for API-token callers)."""
    if session_id is not None:
        auth.sessions.end(session_id)
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=auth.cookie_secure, httponly=True, samesite="strict"
    )


@router.get("/session", response_model=SessionInfo, responses=AUTH_RESPONSES)
def whoami(caller: Annotated[Caller | None, Depends(current_caller)]) -> SessionInfo:
    """The calling user, and the session's CSRF token."""
    if caller is None:
        raise _unauthorized("not logged in")
    return SessionInfo(
        name=caller.user.name,
        role=str(caller.user.role),
        csrf_token=None if caller.session is None else caller.session.csrf_token,
    )
