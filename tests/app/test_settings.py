"""Settings: YAML file plus REPOCLIMATE_* environment, errors that name the key and the source."""

from __future__ import annotations

from pathlib import Path

import pytest

from repoclimate.app.settings import (
    SettingsError,
    env_var_for,
    load_settings,
    load_settings_with_sources,
    setting_keys,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.upper().startswith("REPOCLIMATE_"):
            monkeypatch.delenv(name)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file() -> None:
    settings = load_settings(None)
    assert settings.store.kind == "sqlite"
    assert settings.mqtt.url == "mqtt://127.0.0.1:1883"
    assert settings.registry is None
    assert settings.log_level == "INFO"


def test_yaml_values_are_read(tmp_path: Path) -> None:
    config = write(
        tmp_path / "c.yaml",
        "store: {kind: influxdb, url: 'http://influx:8086', api_version: v1}\n"
        "mqtt: {url: 'mqtt://broker:1884', protocol: '3.1.1'}\n"
        "log_level: DEBUG\n",
    )
    settings = load_settings(config)
    assert settings.store.kind == "influxdb"
    assert settings.store.api_version == "v1"
    assert settings.mqtt.port == 1884
    assert settings.mqtt.protocol == "3.1.1"
    assert settings.log_level == "DEBUG"


def test_environment_overrides_yaml_key_by_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(
        tmp_path / "c.yaml",
        "store: {kind: influxdb, url: 'http://from-yaml:8086', database: archive}\n",
    )
    monkeypatch.setenv("REPOCLIMATE_STORE__URL", "http://from-env:8086")
    monkeypatch.setenv("REPOCLIMATE_STORE__TOKEN", "s3cret")
    settings = load_settings(config)
    assert settings.store.url == "http://from-env:8086"
    assert settings.store.kind == "influxdb"  # the rest of the section stays as the file says
    assert settings.store.database == "archive"
    assert settings.store.token is not None
    assert settings.store.token.get_secret_value() == "s3cret"


def test_environment_takes_json_for_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPOCLIMATE_MQTT__TOPICS", '[{"filter": "site/#", "format": "generic"}]')
    settings = load_settings(None)
    assert [(t.filter, t.format) for t in settings.mqtt.topics] == [("site/#", "generic")]


def test_bad_value_names_key_reason_and_file_line(tmp_path: Path) -> None:
    config = write(tmp_path / "config.yaml", "store:\n  kind: influxdb\n  api_version: v3\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(config)
    assert str(caught.value) == f"{config}:3: store.api_version: Input should be 'v1' or 'v2'"


def test_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPOCLIMATE_MQTT__KEEPALIVE_S", "1")
    with pytest.raises(SettingsError) as caught:
        load_settings(None)
    (issue,) = caught.value.issues
    assert issue.field == "mqtt.keepalive_s"
    assert (issue.source, issue.line) == ("REPOCLIMATE_MQTT__KEEPALIVE_S", None)
    assert str(issue) == (
        "REPOCLIMATE_MQTT__KEEPALIVE_S: mqtt.keepalive_s: "
        "Input should be greater than or equal to 5"
    )


def test_unknown_keys_are_rejected(tmp_path: Path) -> None:
    config = write(tmp_path / "c.yaml", "mqtt:\n  url: mqtt://a:1\n  usrname: x\nregistery: r\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(config)
    assert str(caught.value).splitlines() == [
        f"{config}:3: mqtt.usrname: unknown key (did you mean 'username'?)",
        f"{config}:4: registery: unknown key (did you mean 'registry'?)",
    ]


def test_unknown_environment_variable_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPOCLIMATE_STOR__URL", "http://x")
    with pytest.raises(SettingsError) as caught:
        load_settings(None)
    assert str(caught.value) == "REPOCLIMATE_STOR__URL: stor: unknown key (did you mean 'store'?)"


def test_list_items_are_named_by_index(tmp_path: Path) -> None:
    config = write(
        tmp_path / "c.yaml",
        "mqtt:\n"
        "  topics:\n"
        "    - {filter: 'a/#', format: generic}\n"
        "    - {filter: 'b/#', format: x}\n",
    )
    with pytest.raises(SettingsError) as caught:
        load_settings(config)
    (issue,) = caught.value.issues
    assert (issue.source, issue.line, issue.field) == (str(config), 4, "mqtt.topics[1].format")


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    with pytest.raises(SettingsError) as caught:
        load_settings(missing)
    assert str(caught.value) == f"{missing}: file not found"  # as for every configuration file


def test_invalid_yaml_is_located(tmp_path: Path) -> None:
    config = write(tmp_path / "c.yaml", "store:\n  kind: [sqlite\n")
    with pytest.raises(SettingsError, match=rf"^{config}:3: invalid YAML"):
        load_settings(config)


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    config = write(tmp_path / "c.yaml", "- just\n- a list\n")
    with pytest.raises(SettingsError, match=rf"^{config}:1: the config file must be a mapping"):
        load_settings(config)


def test_an_empty_file_means_defaults(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path / "c.yaml", "# nothing yet\n")).store.kind == "sqlite"


def test_relative_paths_in_yaml_resolve_against_its_directory(tmp_path: Path) -> None:
    config = write(
        tmp_path / "etc" / "c.yaml",
        "registry: registry.yaml\n"
        "collector: {spool_dir: ../var/spool}\n"
        "store: {sqlite_path: data/readings.sqlite}\n"
        "mqtt: {tls: {enabled: true, ca_file: /etc/ssl/ca.pem}}\n",
    )
    settings = load_settings(config)
    base = (tmp_path / "etc").resolve()
    assert settings.registry == base / "registry.yaml"
    assert settings.collector.spool_dir == base / "../var/spool"
    assert settings.store.sqlite_path == base / "data/readings.sqlite"
    assert settings.mqtt.tls.ca_file == Path("/etc/ssl/ca.pem")  # absolute paths stay


def test_relative_paths_from_environment_stay_relative_to_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = write(tmp_path / "c.yaml", "registry: registry.yaml\n")
    monkeypatch.setenv("REPOCLIMATE_REGISTRY", "mine.yaml")
    assert load_settings(config).registry == Path("mine.yaml")


def test_example_config_is_valid() -> None:
    settings = load_settings(EXAMPLES / "config.yaml")
    assert settings.registry == EXAMPLES / "registry.yaml"
    assert settings.store.kind == "influxdb"


def test_setting_keys_and_env_vars() -> None:
    keys = list(setting_keys())
    assert "store.api_version" in keys
    assert "mqtt.tls.ca_file" in keys
    assert "mqtt.topics" in keys  # lists are one key, given as JSON in the environment
    assert env_var_for("store.api_version") == "REPOCLIMATE_STORE__API_VERSION"
    assert env_var_for("log_level") == "REPOCLIMATE_LOG_LEVEL"


def test_unknown_key_in_an_environment_section_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REPOCLIMATE_STORE__URLL", "http://x")
    with pytest.raises(SettingsError) as caught:
        load_settings(None)
    assert (
        str(caught.value)
        == "REPOCLIMATE_STORE__URLL: store.urll: unknown key (did you mean 'url'?)"
    )


def test_sources_locate_file_environment_and_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(tmp_path / "c.yaml", "collector:\n  spool_dir: spool\n")
    monkeypatch.setenv("REPOCLIMATE_ALERTS__STATE_PATH", "a.sqlite")
    _, locate = load_settings_with_sources(config)
    assert locate(("collector", "spool_dir")) == (str(config), 2)
    assert locate(("alerts", "state_path")) == ("REPOCLIMATE_ALERTS__STATE_PATH", None)
    assert locate(("store", "sqlite_path")) == (None, None)
