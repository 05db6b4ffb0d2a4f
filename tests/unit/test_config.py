from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orchestrator.app.config import EMBEDDED_DEFAULTS, load_config
from orchestrator.core.errors import ConfigError
from orchestrator.engine.config import DEFAULT_LISTEN, parse_listen


def test_embedded_defaults_need_no_file(tmp_path: Path) -> None:
    config = load_config(environ={"XDG_STATE_HOME": str(tmp_path)})
    assert config.http.listen == DEFAULT_LISTEN
    assert config.http.host == "127.0.0.1"
    assert config.data_dir == tmp_path / "fluxora"
    assert config.env == "dev"


def test_precedence_argument_over_environment_over_file(tmp_path: Path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text("data_dir: /from/file\nhttp: {listen: '127.0.0.1:1001'}\n")
    environ = {"FLUXORA_CONFIG": str(file), "FLUXORA_LISTEN": "127.0.0.1:1002"}
    config = load_config(environ=environ)
    assert config.data_dir == Path("/from/file")
    assert config.http.port == 1002
    config = load_config(environ=environ, listen="127.0.0.1:1003", data_dir=Path("/arg"))
    assert config.http.port == 1003
    assert config.data_dir == Path("/arg")


def test_config_argument_beats_environment_file(tmp_path: Path) -> None:
    env_file, arg_file = tmp_path / "env.yaml", tmp_path / "arg.yaml"
    env_file.write_text("env: staging\n")
    arg_file.write_text("env: prod\n")
    config = load_config(config_file=arg_file, environ={"FLUXORA_CONFIG": str(env_file)})
    assert config.env == "prod"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("http: {listen: 'x'}\n", "c.yaml: http.listen: expected HOST:PORT"),
        ("bogus: 1\n", "c.yaml: bogus: unknown key"),
        ("- a\n", "c.yaml: (file): top level must be a mapping"),
        ("a: [\n", "c.yaml: (file): not valid YAML"),
        ("shutdown_grace_seconds: -1\n", "c.yaml: shutdown_grace_seconds: Input should be"),
    ],
)
def test_bad_file_names_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "c.yaml"
    file.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(config_file=file, environ={})
    assert str(info.value).startswith(f"{tmp_path}/{message}")


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"^FLUXORA_LISTEN: http.listen: .*port must be 1-65535"):
        load_config(environ={"FLUXORA_LISTEN": "127.0.0.1:99999"})


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing.yaml: \(file\): No such file"):
        load_config(config_file=tmp_path / "missing.yaml", environ={})


@pytest.mark.parametrize(
    ("value", "expected"), [("127.0.0.1:80", ("127.0.0.1", 80)), ("[::1]:9", ("::1", 9))]
)
def test_parse_listen(value: str, expected: tuple[str, int]) -> None:
    assert parse_listen(value) == expected


def embedded_names(key: str) -> list[str]:
    return [item["name"] for item in yaml.safe_load(EMBEDDED_DEFAULTS.read_text())[key]]


def test_a_rules_section_keeps_the_embedded_schedules_and_databases(tmp_path: Path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text(
        "rules: [{name: mine, match: x/*, run: noop}]\n"
        "databases: {dev: {forecasts: {port: 5499, dbname: forecasts}}}\n"
    )
    config = load_config(config_file=file, environ={}, data_dir=tmp_path)
    assert [r["name"] for r in config.rules] == ["mine"]
    assert [s["name"] for s in config.schedules] == embedded_names("schedules")
    assert sorted(config.databases["dev"]) == ["fluxora", "forecasts"]
    assert config.provenance == {
        "data_dir": "--data-dir",
        "databases.dev.fluxora.dbname": str(EMBEDDED_DEFAULTS),
        "databases.dev.fluxora.host": str(EMBEDDED_DEFAULTS),
        "databases.dev.fluxora.port": str(EMBEDDED_DEFAULTS),
        "databases.dev.forecasts.dbname": str(file),
        "databases.dev.forecasts.port": str(file),
        "rules": str(file),
        "schedules": str(EMBEDDED_DEFAULTS),
    }
    assert config.rules_source == str(file)


def test_an_empty_list_or_null_removes_what_the_embedded_defaults_set(tmp_path: Path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text("schedules: []\ndatabases: {dev: {fluxora: null}}\n")
    config = load_config(config_file=file, environ={}, data_dir=tmp_path)
    assert config.schedules == []
    assert config.databases == {"dev": {}}
    assert [r["name"] for r in config.rules] == embedded_names("rules")
    assert not [key for key in config.provenance if key.startswith("databases.")]


def test_null_is_a_value_where_nothing_below_set_the_key(tmp_path: Path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text("objectstore: {sse: null}\n")
    config = load_config(config_file=file, environ={}, data_dir=tmp_path)
    assert config.objectstore.sse is None


def test_another_environment_starts_from_no_embedded_defaults(tmp_path: Path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text("env: staging\n")
    config = load_config(config_file=file, environ={}, data_dir=tmp_path)
    assert (config.rules, config.schedules, config.databases) == ([], [], {})


def test_a_bad_value_merged_into_an_embedded_mapping_names_the_file(tmp_path: Path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text("databases: {dev: {fluxora: {port: 0}}}\n")
    with pytest.raises(ConfigError, match=r"c.yaml: databases.dev.fluxora.port: "):
        load_config(config_file=file, environ={}, data_dir=tmp_path)


def test_an_empty_mapping_merges_nothing(tmp_path: Path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text("databases: {}\n")
    config = load_config(config_file=file, environ={}, data_dir=tmp_path)
    assert sorted(config.databases["dev"]) == ["fluxora"]
