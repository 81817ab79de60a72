"""Azure AD sign-in with MSAL: credentials, persistent token cache, prompts, ``httpx.Auth``.

No display code here: prompts are callbacks, the widget lives in :mod:`ci_toolkit.widgets`.
"""

from __future__ import annotations

from ci_toolkit.auth.cache import TokenCacheStore, default_cache_dir
from ci_toolkit.auth.credentials import (
    ClientSecretCredential,
    Credential,
    DeviceCodeCredential,
    ScopedTokenSource,
    make_credential,
)
from ci_toolkit.auth.errors import sign_in_error
from ci_toolkit.auth.httpx_auth import TokenAuth
from ci_toolkit.auth.prompt import DeviceCodeCallback, SignInObserver, TerminalPrompt

__all__ = [
    "ClientSecretCredential",
    "Credential",
    "DeviceCodeCallback",
    "DeviceCodeCredential",
    "ScopedTokenSource",
    "SignInObserver",
    "TerminalPrompt",
    "TokenAuth",
    "TokenCacheStore",
    "default_cache_dir",
    "make_credential",
    "sign_in_error",
]
