"""A detect-secrets plugin for the one credential its built-in plugins miss here.

An API subscription key (Azure API Management, ``Ocp-Apim-Subscription-Key``) is 32 hex
digits: below the hex entropy limit, and ``subscription_key`` is not among the keyword
detector's names. ``tests/unit/test_repository.py`` loads this file by path, as
detect-secrets loads custom plugins (``{"name": ..., "path": "file://..."}``).
"""

from __future__ import annotations

import re

from detect_secrets.plugins.base import RegexBasedDetector

__all__ = ["SubscriptionKeyDetector"]


class SubscriptionKeyDetector(RegexBasedDetector):
    """32 hex digits named a subscription key (``subscription_key = "..."``, a header...)."""

    secret_type = "API subscription key"
    denylist = (
        re.compile(
            r"(?i)(?:subscription[-_ ]?key|ocp-apim-subscription-key)\W{0,8}([0-9a-f]{32})\b"
        ),
    )
