from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.app.config import load_config
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
        ("http: {listen: 'x'}\n", "c.yaml: http.listen: Value error, expected HOST:PORT"),
        ("bogus: 1\n", "c.yaml: bogus: Extra inputs are not permitted"),
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
