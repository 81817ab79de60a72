"""The token cache file: private (0600) whatever the umask, nothing but MSAL's cache inside,
gone after sign-out, never written when ``token_cache=False``.

``tests/client/test_auth.py::test_cache_file_is_private_and_removed_by_sign_out`` covers the
sign-out and re-sign-in cycle on the session level, and
``test_cache_falls_back_to_memory_with_a_warning`` the announced fallback to memory.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from ci_toolkit.auth import TokenCacheStore
from ci_toolkit.client import CustomerInsights
from ci_toolkit.emulator import Emulator
from tests.security.conftest import Secrets, connect
from tests.support import RecordingPrompt

#: The top-level sections of MSAL's serialized token cache.
MSAL_SECTIONS = {"AccessToken", "RefreshToken", "IdToken", "Account", "AppMetadata"}


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """Files would be world-readable and writable by default."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def _cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "ci-toolkit"


def _cache_file(ci: CustomerInsights) -> Path:
    credential = ci.session.credential
    assert credential is not None
    path = credential.cache.path
    assert path is not None, "the token cache is persistent"
    return path


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_cache_file_is_private_whatever_the_umask(
    vault: Emulator, tmp_path: Path, permissive_umask: None
) -> None:
    with connect(vault) as ci:
        ci.segments()
        path = _cache_file(ci)
        assert path.parent == _cache_dir(tmp_path)
        assert _mode(path) == 0o600
        assert _mode(path.parent) == 0o700
        ci.sign_out()
        ci.segments()  # signs in again: a new file, private again
        assert _mode(path) == 0o600


def test_an_existing_readable_cache_file_is_made_private(vault: Emulator) -> None:
    with connect(vault, sign_in=False) as probe:
        credential = probe.session.credential
        assert credential is not None
        key, path = credential.settings.cache_key, credential.cache.path
    assert path is not None
    path.chmod(0o644)  # as a copy from elsewhere or an older tool might leave it
    store = TokenCacheStore.open(key, directory=path.parent)
    assert store.path == path
    assert _mode(path) == 0o600


@pytest.mark.parametrize("flow", ["device code", "client credentials"])
def test_cache_file_holds_nothing_but_msal_cache(
    vault: Emulator, secrets: Secrets, tmp_path: Path, flow: str
) -> None:
    s = vault.settings
    changes = (
        {"client_id": s.confidential_client_id, "client_secret": s.client_secret}
        if flow == "client credentials"
        else {}
    )
    with connect(vault, **changes) as ci:
        ci.segments()
        path = _cache_file(ci)
        raw = path.read_text(encoding="utf-8")
    content = json.loads(raw)
    assert isinstance(content, dict)
    assert set(content) <= MSAL_SECTIONS, set(content) - MSAL_SECTIONS
    assert content["AccessToken"], "the access token is cached"
    if flow == "device code":
        assert content["RefreshToken"], "the refresh token is cached"
        assert content["Account"]
    host = urlsplit(s.authority).hostname
    for section in content.values():
        for entry in section.values():
            assert entry["environment"] == host  # one cache per identity provider
    # none of the toolkit's own secrets: only what MSAL keeps
    for kind in ("subscription_key", "client_secret"):
        for value in secrets.by_kind()[kind]:
            assert value not in raw, f"the cache file holds the {kind}"
    assert [p.name for p in path.parent.iterdir()] in (
        [path.name],
        sorted([path.name, f"{path.name}.lockfile"]),
    )


def test_sign_out_leaves_no_token_anywhere_in_the_cache_folder(
    vault: Emulator, secrets: Secrets, tmp_path: Path
) -> None:
    with connect(vault) as ci:
        ci.segments()
        path = _cache_file(ci)
        refresh_tokens = secrets.by_kind()["refresh_token"]
        assert any(t in path.read_text(encoding="utf-8") for t in refresh_tokens)
        ci.sign_out()
        assert not path.exists()
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file()]
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in leftovers]
    assert secrets.found_in(texts) == []
    assert not any(p.name.startswith("token-cache-") for p in leftovers)


def test_no_token_cache_writes_nothing(vault: Emulator, tmp_path: Path) -> None:
    with connect(vault, token_cache=False) as ci:
        ci.segments()
        credential = ci.session.credential
        assert credential is not None
        assert credential.cache.path is None
    assert not _cache_dir(tmp_path).exists()


@pytest.mark.parametrize(
    "garbage", [b'{"AccessToken": {"x": ', b"\x00\xff\xfe not json", b"[1, 2]"]
)
def test_a_corrupt_cache_file_is_set_aside_and_the_user_signs_in_again(
    vault: Emulator, tmp_path: Path, garbage: bytes
) -> None:
    """A truncated or corrupt cache: a warning naming the file, kept aside, a new sign-in."""
    with connect(vault) as ci:
        ci.segments()
        path = _cache_file(ci)
    path.write_bytes(garbage)  # truncated by a full disk, or overwritten by another tool
    prompt = RecordingPrompt()
    with pytest.warns(UserWarning, match="could not be read") as warned:
        ci = connect(vault, prompt=prompt)
    with ci:
        ci.segments()
    assert str(path) in str(warned[0].message)
    assert len(prompt.codes) == 1  # signed in again, once
    aside = [p for p in path.parent.iterdir() if p.name.startswith(f"{path.name}.unreadable-")]
    assert len(aside) == 1
    assert aside[0].read_bytes() == garbage  # kept for inspection, never lost
    assert _mode(aside[0]) == 0o600
    assert "AccessToken" in json.loads(path.read_text(encoding="utf-8"))  # a new, good cache
