"""The ``dataverse_url`` setting: resolution, normalisation, and the v1 key becoming optional."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci_toolkit.config import Settings, check_dataverse_url, resolve_settings
from ci_toolkit.exceptions import ConfigurationError

BASE = {"CI_TENANT_ID": "t", "CI_CLIENT_ID": "c"}


def test_dataverse_alone_resolves_without_a_subscription_key() -> None:
    env = {**BASE, "CI_DATAVERSE_URL": "https://contoso.crm4.dynamics.com/"}
    settings = resolve_settings(explicit={}, environ=env)
    assert settings is not None
    assert settings.dataverse_url == "https://contoso.crm4.dynamics.com"
    assert settings.subscription_key is None
    assert (settings.has_v1, settings.has_dataverse) == (False, True)


def test_both_paths_resolve_and_the_argument_wins() -> None:
    env = {
        **BASE,
        "CI_SUBSCRIPTION_KEY": "k3y-value",
        "CI_DATAVERSE_URL": "https://a.crm.dynamics.com",
    }
    settings = resolve_settings(
        explicit={"dataverse_url": "https://b.crm.dynamics.com/api/data/v9.2"}, environ=env
    )
    assert settings is not None
    assert settings.dataverse_url == "https://b.crm.dynamics.com"
    assert (settings.has_v1, settings.has_dataverse) == (True, True)
    assert "k3y-value" not in repr(settings)
    assert "dataverse_url='https://b.crm.dynamics.com'" in repr(settings)


def test_the_config_file_knows_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        'tenant_id = "t"\nclient_id = "c"\ndataverse_url = "https://x.crm.dynamics.com"\n',
        encoding="utf-8",
    )
    settings = resolve_settings(explicit={}, environ={}, config_file=path)
    assert settings is not None
    assert settings.dataverse_url == "https://x.crm.dynamics.com"


def test_without_either_path_the_message_names_both_settings() -> None:
    with pytest.raises(ConfigurationError) as info:
        resolve_settings(explicit={}, environ=BASE)
    assert "CI_SUBSCRIPTION_KEY" in str(info.value)
    assert "CI_DATAVERSE_URL" in str(info.value)


@pytest.mark.parametrize(
    "url",
    ["contoso.crm.dynamics.com", "http://contoso.crm.dynamics.com", "https://x/main.aspx"],
)
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="dataverse_url"):
        check_dataverse_url(url)


def test_settings_without_dataverse_keep_their_v1_defaults() -> None:
    settings = Settings(client_id="c", subscription_key="k", authority="https://a/t")
    assert settings.dataverse_url is None
    assert (settings.has_v1, settings.has_dataverse) == (True, False)
