"""``/docs`` works offline: the Swagger UI page and every file it loads come from the app itself,
not from a CDN (on a network that reaches no other host the page would be blank)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import anyio.to_thread

from repoclimate.app.api import REQUEST_THREADS
from tests.app.api.conftest import World

# What the page loads: <script src>, <link href>, and the schema Swagger UI fetches (url: '…').
_REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|\burl\s*:\s*["']([^"']+)["']""")


def referenced(html: str) -> list[str]:
    return [src or url for src, url in _REFERENCE.findall(html)]


def test_docs_page_references_no_other_host(world: World) -> None:
    answer = world.client().get("/docs")  # anonymous: the page holds no data
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    html = answer.text
    urls = referenced(html)
    assert any(u.endswith(".js") for u in urls) and any(u.endswith(".css") for u in urls), urls
    assert "/openapi.json" in urls
    for url in urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"/docs loads {url} from another host"
    assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, re.IGNORECASE), (
        "an absolute URL in the /docs page"
    )


def test_docs_files_are_served_by_the_app(world: World) -> None:
    client = world.client()
    urls = referenced(client.get("/docs").text)
    kinds = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
    for url in urls:
        answer = client.get(url)
        assert answer.status_code == 200, url
        suffix = url[url.rfind(".") :]
        if suffix in kinds:
            assert answer.headers["content-type"].startswith(kinds[suffix]), url
            assert answer.content, url
    bundle = next(u for u in urls if u.endswith("swagger-ui-bundle.js"))
    assert "SwaggerUIBundle" in client.get(bundle).text


def test_docs_pages_are_not_in_the_schema(world: World) -> None:
    paths = world.client().get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/docs")]
    assert world.client().get("/redoc").status_code == 404  # it would load ReDoc from a CDN


def test_route_functions_run_on_a_few_threads(world: World) -> None:
    """Not docs, but the same app set-up: blocking routes share REQUEST_THREADS threads, not
    Starlette's 40 (which made the API collapse under load in bench/api.py)."""

    def limit() -> float:
        return anyio.to_thread.current_default_thread_limiter().total_tokens

    with world.client() as client:  # entering runs the app's lifespan
        assert client.portal is not None
        assert client.portal.call(limit) == REQUEST_THREADS < 40
        assert client.get("/healthz").status_code == 200
