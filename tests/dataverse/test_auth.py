"""One MSAL app, account and cache for two resources: token sources per scope, silent second
token, a forced refresh that touches one resource only, sign-out of both (emulator, real MSAL)."""

from __future__ import annotations

import pytest

import ci_toolkit
from ci_toolkit.emulator import Emulator
from tests.dataverse.conftest import dv_args
from tests.support import RecordingPrompt

pytestmark = pytest.mark.usefixtures("no_user_settings")


def test_token_sources_share_the_app_and_refresh_separately(emulator: Emulator) -> None:
    s = emulator.settings
    ci = ci_toolkit.connect(
        **dv_args(emulator, client_id=s.confidential_client_id, client_secret=s.client_secret)
    )
    try:
        credential = ci.session.credential
        assert credential is not None
        dv = credential.token_source([s.dataverse_app_scope])
        assert credential.token_source([s.dataverse_app_scope]) is dv
        v1_token, dv_token = credential.get_token(), dv.get_token()
        assert v1_token != dv_token
        fresh = dv.get_token(force_refresh=True)
        assert fresh != dv_token
        assert credential.get_token() == v1_token  # the v1 token was not dropped
        assert credential._msal_app() is credential._app  # one MSAL app for both
    finally:
        ci.close()


def test_sign_out_forgets_both_and_the_next_read_signs_in_once(emulator: Emulator) -> None:
    prompt = RecordingPrompt()
    ci = ci_toolkit.connect(**dv_args(emulator, prompt=prompt, token_cache=True))
    try:
        assert len(prompt.codes) == 1
        ci.sign_out()
        assert ci.dataverse.whoami()["UserId"]  # a new sign-in, started by Dataverse
        assert len(prompt.codes) == 2
        assert not ci.instances().empty  # v1 then silently from that sign-in
        assert len(prompt.codes) == 2
    finally:
        ci.close()
