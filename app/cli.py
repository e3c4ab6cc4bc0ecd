"""The ``repoclimate`` command: collect, decode, check-config, simulate, demo.

Exit codes: 0 success; 1 bad settings, registry or other configuration; 2 a message the
collector would reject (``decode``) or a usage error.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from repoclimate.app.alerts_cli import alerts_app
from repoclimate.app.checks import check_all
from repoclimate.app.dashboards_cli import dashboards_app
from repoclimate.app.history_cli import export_command, history_app
from repoclimate.app.import_cli import import_command
from repoclimate.app.options import ConfigOption
from repoclimate.app.publish import PublishOptions, run_simulator
from repoclimate.app.report_cli import report_command
from repoclimate.app.serve import serve_command
from repoclimate.app.settings import Settings, SettingsError, load_settings
from repoclimate.app.users_cli import tokens_app, users_app
from repoclimate.app.wiring import collector_from, pipeline_from, registry_from
from repoclimate.history import open_store
from repoclimate.ingest.settings import FormatName
from repoclimate.ingest.spool import SpoolError
from repoclimate.sensors.durations import DurationError, parse_seconds
from repoclimate.sensors.reading import DecodeError, reading_json
from repoclimate.sensors.registry import Registry, RegistryError
from repoclimate.sensors.simulator import SimulatorError

app = typer.Typer(
    name="repoclimate",
    help="Climate monitoring for archival repositories.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.add_typer(alerts_app, name="alerts")
app.add_typer(dashboards_app, name="dashboards")
app.command("import")(import_command)
app.command("export")(export_command)
app.command("report")(report_command)
app.add_typer(history_app, name="history")
app.command("serve")(serve_command)
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")


EXIT_CONFIG = 1
EXIT_REJECTED = 2


def main() -> None:
    """Console-script entry point."""
    app()


def _fail(lines: str, code: int = EXIT_CONFIG) -> NoReturn:
    typer.echo(lines, err=True)
    raise typer.Exit(code)


def _settings(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except SettingsError as exc:
        _fail(str(exc))


def _duration_option(text: str, option: str) -> float:
    """Seconds of a duration option (``90s``, ``1h30m``: `sensors.durations`); a usage error
    naming the option when the text is not one."""
    try:
        return parse_seconds(text)
    except DurationError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


def _registry(settings: Settings) -> Registry:
    try:
        return registry_from(settings.registry)
    except RegistryError as exc:
        _fail(str(exc))


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


@app.command()
def collect(config: ConfigOption = None) -> None:
    """Run the collector: subscribe to the broker and store readings until SIGTERM or Ctrl-C."""
    settings = _settings(config)
    _configure_logging(settings.log_level)
    registry = _registry(settings)
    store = open_store(settings.store)
    where = settings.store
    logging.getLogger("repoclimate.app").info(
        "store: %s",
        f"sqlite {where.sqlite_path}"
        if where.kind == "sqlite"
        else f"influxdb {where.url} database {where.database} (API {where.api_version})",
    )
    try:
        collector_from(settings.mqtt, settings.collector, registry, store).run()
    except SpoolError as exc:  # e.g. another collector with this client id holds the spool
        _fail(f"cannot start the collector: {exc}")
    finally:
        store.close()


@app.command()
def decode(
    topic: Annotated[str, typer.Option("--topic", "-t", help="MQTT topic the message came on.")],
    payload: Annotated[
        str,
        typer.Option(
            "--payload", "-p", help="The payload as text; @FILE reads a file, - reads stdin."
        ),
    ],
    fmt: Annotated[
        FormatName | None,
        typer.Option(
            "--format",
            "-f",
            help="Decode as this format (auto: detect) instead of by the topic routes.",
            show_default=False,
        ),
    ] = None,
    received_at: Annotated[
        str | None,
        typer.Option(
            "--received-at",
            help="When the message arrived (ISO 8601 with zone); the time of a reading whose "
            "payload has none. Default: now.",
            show_default=False,
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Show what the collector makes of one message: one JSON object per reading.

    A rejected message prints its reason on stderr and exits with 2.
    """
    settings = _settings(config)
    pipeline = pipeline_from(settings.mqtt, settings.collector, _registry(settings), fmt)
    try:
        readings = pipeline.process(topic, _payload_bytes(payload), _received_at(received_at))
    except DecodeError as exc:
        hint = ""
        if exc.reason == "bad_topic" and fmt is None:
            filters = ", ".join(route.filter for route in settings.mqtt.topics)
            hint = f"\nthe collector subscribes to {filters}; --format decodes it anyway"
        _fail(f"rejected ({exc.reason}): {exc}{hint}", EXIT_REJECTED)
    if not readings:
        typer.echo("no readings: the message carries none (status, availability…)", err=True)
    for reading in readings:
        typer.echo(json.dumps(reading_json(reading), ensure_ascii=False))


def _payload_bytes(payload: str) -> bytes:
    if payload == "-":
        return sys.stdin.buffer.read()
    if payload.startswith("@"):
        try:
            return Path(payload[1:]).read_bytes()
        except OSError as exc:
            raise typer.BadParameter(str(exc), param_hint="--payload") from None
    return payload.encode("utf-8")


def _received_at(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not an ISO 8601 time", param_hint="--received-at"
        ) from None
    if when.tzinfo is None:
        raise typer.BadParameter(
            f"{text!r} has no time zone (write e.g. 2026-11-20T03:15:00Z)",
            param_hint="--received-at",
        )
    return when.astimezone(UTC)


@app.command("check-config")
def check_config(
    config: ConfigOption = None,
    registry: Annotated[
        Path | None,
        typer.Option(
            "--registry", "-r", help="Registry file to check instead of the one the settings name."
        ),
    ] = None,
) -> None:
    """Validate the settings, the registry and the alert rules and rota.

    Says what is wrong and where (file:line: field: reason), or summarises what was found.
    """
    problems, summary = check_all(config, registry)
    if problems:
        _fail("\n".join(problems))
    typer.echo(summary)


@app.command()
def simulate(
    config: ConfigOption = None,
    registry: Annotated[
        Path | None,
        typer.Option(
            "--registry",
            "-r",
            help="Simulate the sensors of this registry (default: the settings' registry, "
            "else the built-in City Archives demo site).",
            show_default=False,
        ),
    ] = None,
    formats: Annotated[
        str,
        typer.Option(
            "--format",
            "--formats",
            "-f",
            help="mixed (each sensor its own format), one format, or several in turn "
            "(generic,tasmota): generic, zigbee2mqtt, tasmota, shelly, shelly-gen1, "
            "shelly-gen2, esphome, ttn, lineprotocol.",
        ),
    ] = "mixed",
    rate: Annotated[
        float | None,
        typer.Option("--rate", min=0.001, help="At most this many messages per second."),
    ] = None,
    speed: Annotated[
        float | None,
        typer.Option(
            "--speed",
            min=0.001,
            help="Simulated seconds per second (3600: an hour a second); default: as fast as "
            "the broker takes them. The simulated clock never runs past now.",
        ),
    ] = None,
    count: Annotated[
        int | None, typer.Option("--count", "-n", min=1, help="Stop after this many messages.")
    ] = None,
    duration: Annotated[
        str | None,
        typer.Option(
            "--duration",
            help="Stop after this much simulated time (90s, 30m, 2h, 1d). Without --count or "
            "--duration: until Ctrl-C.",
        ),
    ] = None,
    faults: Annotated[
        list[str] | None,
        typer.Option(
            "--fault",
            help="KIND:TARGET[@START][+DURATION], e.g. dehumidifier-failure:stack-3@2h; "
            "repeatable. Kinds: dehumidifier-failure, hvac-failure, leak, door-open, "
            "sensor-dies, sensor-sticks.",
        ),
    ] = None,
    copies: Annotated[
        int, typer.Option("--copies", min=1, help="Each sensor this many times (load tests).")
    ] = 1,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulated weather.")] = 0,
    write_registry: Annotated[
        Path | None,
        typer.Option(
            "--write-registry",
            help="Write the registry that places every simulated device to this file and exit.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Publish a simulated repository's climate to the broker the settings name."""
    if duration is not None:
        _duration_option(duration, "--duration")  # refused before reading anything else
    settings = _settings(config)
    _configure_logging(settings.log_level)
    options = PublishOptions(
        registry=registry or settings.registry,
        formats=formats,
        rate=rate,
        speed=speed,
        count=count,
        duration=duration,
        faults=tuple(faults or ()),
        copies=copies,
        seed=seed,
    )
    try:
        if write_registry is not None:
            write_registry.write_text(options.registry_yaml(), encoding="utf-8")
            typer.echo(f"wrote {write_registry}")
            return
        report = run_simulator(
            settings.mqtt, options, progress=lambda line: typer.echo(line, err=True)
        )
    except RegistryError as exc:
        _fail(str(exc))
    except ValueError as exc:  # a bad fault spec, format or duration, found before connecting
        raise typer.BadParameter(str(exc)) from None
    except SimulatorError as exc:  # broker unreachable, refusing, or not acknowledging
        _fail(f"simulate: {exc}")
    typer.echo(report)


@app.command()
def demo(
    speed: Annotated[
        float,
        typer.Option(
            "--speed",
            min=0.001,
            help="Simulated seconds per second until the simulated clock reaches now.",
        ),
    ] = 3600.0,
    backfill: Annotated[
        str,
        typer.Option("--backfill", help="How long ago the simulated clock starts (2d, 12h…)."),
    ] = "2d",
    rate: Annotated[
        float, typer.Option("--rate", min=0.001, help="At most this many messages per second.")
    ] = 500.0,
    interval: Annotated[
        str | None,
        typer.Option(
            "--interval",
            help="Every sensor reports this often (5m, 1h…); default: each its own (1–15 min). "
            "Hourly loggers make a long --backfill quick.",
            show_default=False,
        ),
    ] = None,
    faults: Annotated[
        list[str] | None,
        typer.Option(
            "--fault",
            help="Inject a fault, e.g. dehumidifier-failure:stack-1@6h (6 h after the "
            "simulated start); repeatable.",
        ),
    ] = None,
    duration: Annotated[
        str | None,
        typer.Option(
            "--duration",
            help="Stop by itself after this much wall-clock time (20s, 5m…); default: run until "
            "Ctrl-C.",
            show_default=False,
        ),
    ] = None,
    formats: Annotated[
        str | None,
        typer.Option(
            "--formats",
            help="Payload formats of the simulated sensors, as for `simulate --formats`; "
            "default: the formats that carry a time stamp, in turn.",
            show_default=False,
        ),
    ] = None,
    port: Annotated[
        int,
        typer.Option("--port", min=0, max=65535, help="Broker port on 127.0.0.1 (0: a free one)."),
    ] = 0,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Keep the SQLite store, spool and registry here (default: a temporary "
            "directory, removed at the end).",
            show_default=False,
        ),
    ] = None,
    live: Annotated[
        bool,
        typer.Option(
            "--live/--no-live",
            help="Live table in the terminal, or plain summaries every few seconds "
            "(the default when the output is not a terminal).",
        ),
    ] = True,
) -> None:
    """Run everything on this machine: embedded broker and store, simulator, collector."""
    from rich.console import Console

    from repoclimate.app.demo import DEMO_FORMATS, DemoError, DemoOptions, run_demo
    from repoclimate.app.live import show_live, show_plain
    from repoclimate.sensors.simulate.faults import FaultSpecError
    from repoclimate.sensors.simulate.layout import expand_formats

    logging.basicConfig(level="WARNING", format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("amqtt").setLevel(logging.CRITICAL)
    backfill_s = _duration_option(backfill, "--backfill")
    interval_s = None
    if interval is not None:
        interval_s = round(_duration_option(interval, "--interval"))
        if interval_s < 1:
            raise typer.BadParameter("must be at least 1s", param_hint="--interval")
    duration_s = None if duration is None else _duration_option(duration, "--duration")
    try:
        expand_formats(formats or DEMO_FORMATS)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--formats") from None
    options = DemoOptions(
        speed=speed,
        backfill=timedelta(seconds=backfill_s),
        rate=rate,
        faults=tuple(faults or ()),
        duration=duration_s,
        formats=formats or DEMO_FORMATS,
        port=port,
        data_dir=data_dir,
        interval_s=interval_s,
    )
    console = Console()
    view = show_live(console) if live and console.is_terminal else show_plain(console)
    try:
        state = run_demo(options, view)
    except FaultSpecError as exc:
        raise typer.BadParameter(str(exc), param_hint="--fault") from None
    except DemoError as exc:
        _fail(f"demo: {exc}")
    if state.error:
        _fail(f"demo: {state.error}")
