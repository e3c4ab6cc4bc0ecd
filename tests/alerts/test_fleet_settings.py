"""The engine's evaluator and incremental reads are settings (``alerts.evaluator``,
``alerts.incremental``) that reach the engine the service builds, on start and on reload."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from repoclimate.alerts.evaluate import Evaluator, StoreSource
from repoclimate.alerts.fleet import FleetEvaluator
from repoclimate.alerts.incremental import IncrementalStoreSource
from repoclimate.alerts.runtime import build_alerting
from repoclimate.alerts.settings import AlertSettings
from repoclimate.history import StoreSettings, open_store
from repoclimate.sensors.registry import Registry


def test_the_defaults_are_the_fleet_evaluator_reading_whole_windows() -> None:
    settings = AlertSettings()
    assert settings.evaluator == "fleet" and settings.incremental is False


@pytest.mark.parametrize(
    ("evaluator", "incremental", "kind", "source"),
    [
        ("fleet", False, FleetEvaluator, StoreSource),
        ("fleet", True, FleetEvaluator, IncrementalStoreSource),
        ("reference", False, Evaluator, StoreSource),
        ("reference", True, Evaluator, IncrementalStoreSource),
    ],
)
def test_the_settings_reach_the_engine(
    tmp_path: Path, evaluator: str, incremental: bool, kind: type, source: type
) -> None:
    settings = AlertSettings.model_validate(
        {
            "state_path": tmp_path / "alerts.sqlite",
            "evaluator": evaluator,
            "incremental": incremental,
        }
    )
    store = open_store(StoreSettings(kind="sqlite", sqlite_path=tmp_path / "store.sqlite"))
    alerting = build_alerting(settings, store, Registry.empty())
    assert type(alerting.engine.evaluator) is kind
    assert type(alerting.engine.evaluator.source) is source
    alerting.close()
    store.close()


def test_an_unknown_evaluator_is_refused() -> None:
    with pytest.raises(ValidationError, match="evaluator"):
        AlertSettings.model_validate({"evaluator": "fastest"})


def test_the_environment_sets_them(monkeypatch: pytest.MonkeyPatch) -> None:
    from repoclimate.app.settings import Settings

    monkeypatch.setenv("REPOCLIMATE_ALERTS__EVALUATOR", "reference")
    monkeypatch.setenv("REPOCLIMATE_ALERTS__INCREMENTAL", "true")
    settings = Settings()
    assert settings.alerts.evaluator == "reference" and settings.alerts.incremental is True
