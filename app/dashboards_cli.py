"""``repoclimate dashboards build|push``: the Grafana dashboards for the registry in force
(`repoclimate.dashboards.build`), written as JSON files or pushed to Grafana's HTTP API
(`repoclimate.dashboards.push`).

The Grafana token is read from ``--token-file`` or the ``GRAFANA_TOKEN`` environment
variable (``--token`` works too, but stays in the shell history and the process list); it is sent
only as an ``Authorization`` header and never printed. The data source's InfluxDB credentials come
from the settings' ``store`` section (``token`` → InfluxDB 2.x/3.x flavour; ``username`` /
``password`` → 1.x). The API data source (open alerts, dead letters) reaches the service at
``--api-url`` (default: ``api.listen``) with a viewer's API token from ``--api-token-file`` or
``API_VIEWER_TOKEN``; without one it sends no credential (enough with ``api.public_read``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

from repoclimate.app.options import ConfigOption
from repoclimate.app.settings import Settings, SettingsError, load_settings
from repoclimate.app.wiring import registry_from
from repoclimate.sensors.registry import Registry, RegistryError

dashboards_app = typer.Typer(
    name="dashboards",
    help="Grafana dashboards: build the JSON, push to Grafana.",
    no_args_is_help=True,
)

TOKEN_ENV_VAR = "GRAFANA_TOKEN"
"""Not ``REPOCLIMATE_…``: the settings refuse unknown variables under their own prefix."""
API_TOKEN_ENV_VAR = "API_VIEWER_TOKEN"
"""The repoclimate API token (role viewer) the Grafana API data source sends."""


def _fail(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(1)


def _settings_and_registry(config: Path | None) -> tuple[Settings, Registry]:
    try:
        settings = load_settings(config)
        return settings, registry_from(settings.registry)
    except (SettingsError, RegistryError) as exc:
        _fail(str(exc))


@dashboards_app.command("build")
def build_command(
    out: Annotated[Path, typer.Option("--out", help="directory for the JSON files")],
    config: ConfigOption = None,
) -> None:
    """Write one JSON file per dashboard for the registry in force."""
    from repoclimate.dashboards.build import build_all, dumps

    _, registry = _settings_and_registry(config)
    out.mkdir(parents=True, exist_ok=True)
    for name, dashboard in build_all(registry).items():
        path = out / f"{name}.json"
        path.write_text(dumps(dashboard), encoding="utf-8")
        typer.echo(str(path))


def _read_token(path: Path, option: str) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        _fail(f"{option} {path}: {exc.strerror}")
    if not text:
        _fail(f"{option} {path}: the file is empty")
    return text


def _token(token: str | None, token_file: Path | None) -> str:
    if token_file is not None:
        return _read_token(token_file, "--token-file")
    if not token:
        _fail(f"no Grafana token: give --token-file FILE or set {TOKEN_ENV_VAR}")
    return token


def _api_url(settings: Settings, api_url: str | None) -> str:
    """``--api-url``, else where ``api.listen`` serves (a wildcard address as the loopback)."""
    if api_url:
        return api_url
    host, port = settings.api.host_port
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@dashboards_app.command("push")
def push_command(
    grafana_url: Annotated[
        str, typer.Option("--grafana-url", help="Grafana's base URL, e.g. http://grafana:3000")
    ],
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar=TOKEN_ENV_VAR,
            help="Grafana service-account token (prefer the environment variable or --token-file)",
            show_default=False,
            show_envvar=True,
        ),
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option("--token-file", help="file holding the Grafana token", show_default=False),
    ] = None,
    datasource_url: Annotated[
        str | None,
        typer.Option(
            "--datasource-url",
            help="InfluxDB URL as Grafana reaches it (default: the store's url)",
            show_default=False,
        ),
    ] = None,
    api_url: Annotated[
        str | None,
        typer.Option(
            "--api-url",
            help="the service's URL as Grafana reaches it (default: api.listen)",
            show_default=False,
        ),
    ] = None,
    api_token: Annotated[
        str | None,
        typer.Option(
            "--api-token",
            envvar=API_TOKEN_ENV_VAR,
            help="a viewer's API token for Grafana's API data source (prefer the variable)",
            show_default=False,
            show_envvar=True,
        ),
    ] = None,
    api_token_file: Annotated[
        Path | None,
        typer.Option("--api-token-file", help="file holding that API token", show_default=False),
    ] = None,
    update_secret: Annotated[
        bool,
        typer.Option("--update-secret", help="send the data sources' credentials again"),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Create or update the folder, the data sources (InfluxDB, the service's API) and the
    dashboards in Grafana."""
    from repoclimate.dashboards.build import build_all, to_json
    from repoclimate.dashboards.push import ApiSource, InfluxSource, PushError, client, push

    secret = _token(token, token_file)
    viewer_token = (
        _read_token(api_token_file, "--api-token-file")
        if api_token_file is not None
        else api_token or None
    )
    settings, registry = _settings_and_registry(config)
    store = settings.store
    if store.token is not None:
        source = InfluxSource(
            datasource_url or store.url, store.database, "v2", secret=store.token.get_secret_value()
        )
    else:
        password = store.password.get_secret_value() if store.password is not None else None
        source = InfluxSource(
            datasource_url or store.url, store.database, "v1", user=store.username, secret=password
        )
    try:
        api = client(grafana_url, secret)
    except ValueError as exc:
        _fail(str(exc))
    dashboards = {name: to_json(d) for name, d in build_all(registry).items()}
    try:
        report = push(
            api,
            dashboards,
            source,
            api_source=ApiSource(_api_url(settings, api_url), viewer_token),
            update_secret=update_secret,
        )
    except PushError as exc:
        _fail(str(exc))
    except OSError as exc:  # requests' ConnectionError and timeouts are OSErrors
        _fail(f"--grafana-url {grafana_url}: cannot reach Grafana ({type(exc).__name__})")
    for what, change in report.changes.items():
        typer.echo(f"{change:9} {what}")
