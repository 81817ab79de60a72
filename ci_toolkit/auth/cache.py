"""The persistent MSAL token cache: one file per identity provider, permissions 0600.

A kernel restart or a new process reuses the cached refresh token silently. The file sits in
``platformdirs.user_cache_dir("ci-toolkit")``, named after :attr:`Settings.cache_key`, so
the emulator's tokens and a real tenant's never mix. On Windows the file is encrypted with
DPAPI (msal-extensions); elsewhere it is a plain file readable by its owner only, as MSAL
and the Azure CLI do. When neither can be had (read-only home, a file system without
permissions), the cache falls back to memory and says so once as a ``UserWarning``.

Example
-------
>>> store = TokenCacheStore.in_memory()
>>> store.persistent
False
"""

from __future__ import annotations

import json
import logging
import os
import stat
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from ci_toolkit import _defaults

__all__ = ["TokenCacheStore", "default_cache_dir"]

logger = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """The user cache folder of ci-toolkit (``platformdirs.user_cache_dir``).

    Example
    -------
    >>> default_cache_dir().name
    'ci-toolkit'
    """
    import platformdirs

    return Path(platformdirs.user_cache_dir(_defaults.APP_NAME))


def _make_private_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)
    mode = stat.S_IMODE(path.stat().st_mode)
    if sys.platform != "win32" and mode & 0o077:
        raise PermissionError(f"cannot restrict {path} to its owner (mode {mode:o})")


def _set_aside_if_unreadable(persistence: Any, path: Path) -> None:
    """Move a cache file that is not MSAL's JSON (truncated, corrupt) aside, with a warning.

    MSAL would fail on it at every sign-in with a bare ``JSONDecodeError``; the tokens in it
    cannot be read anyway, so the user signs in again and the bad file is kept (as
    ``<name>.unreadable-<time>``, private) for inspection, never silently deleted.
    """
    try:
        text = persistence.load()
        content = json.loads(text) if text and text.strip() else {}
        if isinstance(content, dict):
            return
        problem = f"it holds a JSON {type(content).__name__}, not MSAL's token cache"
    except FileNotFoundError:
        return
    except Exception as exc:  # not JSON, not text, or not decryptable: all unreadable
        problem = f"{type(exc).__name__}: {exc}"
    aside = path.with_name(f"{path.name}.unreadable-{time.strftime('%Y%m%dT%H%M%S')}")
    os.replace(path, aside)
    _make_private_file(path)
    warnings.warn(
        f"ci-toolkit: the token cache {path} could not be read ({problem}); it is kept as "
        f"{aside.name} and a new cache is started, so you sign in again once.",
        UserWarning,
        stacklevel=4,
    )


class TokenCacheStore:
    """An MSAL token cache and the file (if any) behind it.

    Parameters
    ----------
    cache
        The ``msal.SerializableTokenCache`` (or msal-extensions' ``PersistedTokenCache``).
    path
        The cache file; ``None`` when the cache lives in memory only.

    Example
    -------
    >>> TokenCacheStore.in_memory().path is None
    True
    """

    def __init__(self, cache: Any, path: Path | None) -> None:
        self.cache = cache
        self.path = path

    @property
    def persistent(self) -> bool:
        """True when tokens survive the process."""
        return self.path is not None

    @classmethod
    def in_memory(cls) -> TokenCacheStore:
        """A cache that lives as long as the process (e.g. for the embedded emulator).

        Example
        -------
        >>> TokenCacheStore.in_memory().persistent
        False
        """
        import msal

        return cls(msal.SerializableTokenCache(), None)

    @classmethod
    def open(cls, key: str, *, directory: Path | None = None) -> TokenCacheStore:
        """Open (or create) the persistent cache for ``key``, or fall back to memory, loudly.

        Parameters
        ----------
        key
            The identity provider's key (:attr:`Settings.cache_key`).
        directory
            Where the file lives; :func:`default_cache_dir` when ``None``.

        Returns
        -------
        TokenCacheStore
            Persistent when possible; in memory after a ``UserWarning`` otherwise.

        Example
        -------
        >>> store = TokenCacheStore.open("abc", directory=Path("/tmp/ci-doc"))  # doctest: +SKIP
        """
        from msal_extensions import (
            FilePersistence,
            FilePersistenceWithDataProtection,
            PersistedTokenCache,
        )

        path = (directory or default_cache_dir()) / f"{_defaults.TOKEN_CACHE_PREFIX}{key}.bin"
        try:
            _make_private_file(path)
            persistence = (
                FilePersistenceWithDataProtection(str(path))
                if sys.platform == "win32"
                else FilePersistence(str(path))
            )
            _set_aside_if_unreadable(persistence, path)
            cache = PersistedTokenCache(persistence)
        except Exception as exc:  # any failure to persist securely -> memory, announced
            warnings.warn(
                f"ci-toolkit: cannot keep the token cache in {path} ({exc}); tokens are kept "
                "in memory only, so each new Python process signs in again.",
                UserWarning,
                stacklevel=3,
            )
            return cls.in_memory()
        logger.debug("Token cache at %s", path)
        return cls(cache, path)

    def remove(self) -> None:
        """Delete the cache file and its lock file (sign-out).

        Example
        -------
        >>> TokenCacheStore.in_memory().remove()
        """
        if self.path is None:
            return
        for candidate in (self.path, Path(f"{self.path}.lockfile")):
            try:
                candidate.unlink()
            except FileNotFoundError:
                pass
            else:
                logger.debug("Removed %s", candidate)
