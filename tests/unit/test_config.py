"""Settings resolution: arguments > environment > config file > emulator; partial is an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci_toolkit.config import Settings, config_file_path, resolve_settings
from ci_toolkit.exceptions import ConfigurationError

FULL_ENV = {
    "CI_TENANT_ID": "env-tenant",
    "CI_CLIENT_ID": "env-client",
    "CI_SUBSCRIPTION_KEY": "env-key-0123456789",
}


def test_nothing_configured_means_emulator(tmp_path: Path) -> None:
    assert resolve_settings(explicit={}, environ={}, config_file=tmp_path / "none.toml") is None


def test_instance_id_alone_still_means_emulator() -> None:
    assert resolve_settings(explicit={"instance_id": "i"}, environ={}) is None


def test_environment_builds_default_authority_and_base_url() -> None:
    s = resolve_settings(explicit={}, environ=FULL_ENV)
    assert s is not None
    assert s.authority == "https://login.microsoftonline.com/env-tenant"
    assert s.base_url == "https://api.ci.ai.dynamics.com/v1"
    assert s.source == "environment"
    assert not s.uses_client_credentials


def test_arguments_override_environment_which_overrides_file(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        'tenant_id = "file-tenant"\nclient_id = "file-client"\n'
        'subscription_key = "file-key-123456"\ninstance_id = "file-instance"\n',
        encoding="utf-8",
    )
    env = {"CI_CLIENT_ID": "env-client"}
    s = resolve_settings(explicit={"tenant_id": "arg-tenant"}, environ=env, config_file=cfg)
    assert s is not None
    assert (s.tenant_id, s.client_id, s.subscription_key, s.instance_id) == (
        "arg-tenant",
        "env-client",
        "file-key-123456",
        "file-instance",
    )
    assert s.source == f"arguments, environment, config file {cfg}"


def test_partial_configuration_names_every_missing_value() -> None:
    with pytest.raises(ConfigurationError) as info:
        resolve_settings(explicit={}, environ={"CI_TENANT_ID": "t"})
    message = str(info.value)
    assert "client_id (CI_CLIENT_ID)" in message
    assert "subscription_key (CI_SUBSCRIPTION_KEY)" in message
    assert "tenant_id (CI_TENANT_ID)" not in message


def test_missing_tenant_is_named_when_no_authority() -> None:
    with pytest.raises(ConfigurationError, match=r"tenant_id \(CI_TENANT_ID\)"):
        resolve_settings(explicit={"client_id": "c", "subscription_key": "k"}, environ={})


def test_authority_supplies_the_tenant() -> None:
    s = resolve_settings(
        explicit={"client_id": "c", "subscription_key": "k", "authority": "https://h:1/t1/"},
        environ={},
    )
    assert s is not None
    assert (s.authority, s.tenant_id) == ("https://h:1/t1", "t1")


def test_http_urls_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="base_url must be an https URL"):
        resolve_settings(explicit={"base_url": "http://x/v1"}, environ=FULL_ENV)


def test_missing_ca_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        resolve_settings(explicit={"ca_file": tmp_path / "nope.pem"}, environ=FULL_ENV)


def test_unknown_config_file_key_is_an_error(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('tenant = "typo"\n', encoding="utf-8")
    with pytest.raises(ConfigurationError, match="Unknown setting"):
        resolve_settings(explicit={}, environ={}, config_file=cfg)


def test_broken_config_file_is_an_error(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text("tenant_id = \n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="Cannot read the config file"):
        resolve_settings(explicit={}, environ={}, config_file=cfg)


def test_repr_and_str_hide_secrets() -> None:
    s = resolve_settings(explicit={"client_secret": "sup3r-s3cret-value"}, environ=FULL_ENV)
    assert s is not None
    assert s.uses_client_credentials
    for text in (repr(s), str(s), f"{s}"):
        assert "sup3r-s3cret-value" not in text
        assert "env-key-0123456789" not in text
        assert "client_secret='***'" in text


def test_cache_key_separates_identity_providers() -> None:
    real = Settings(client_id="c", subscription_key="k", authority="https://login.x/t")
    local = Settings(client_id="c", subscription_key="k", authority="https://127.0.0.1:5/t")
    assert real.cache_key != local.cache_key
    assert (
        real.cache_key
        == Settings(
            client_id="c", subscription_key="other", authority="https://LOGIN.x/t/"
        ).cache_key
    )


def test_config_file_lives_in_platform_config_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert config_file_path() == tmp_path / "ci-toolkit" / "config.toml"
