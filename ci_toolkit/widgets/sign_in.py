"""``SignInPanel``: who is signed in, to which instance, the device code while pending, sign-out.

The panel asks the service who the identity is (``my_role``) and which instance it works on
(``instance``) on its worker thread, and, when the connection has the Dataverse path, who
Dataverse says is signed in (``WhoAmI``). It shows both resources and which path reads use by
default (``ci.source``); a path that is not configured is shown as such and never asked.
If that request needs a sign-in (first use, or after
*Sign out*), the connection's device code prompt is this panel's
:class:`~ci_toolkit.widgets.DeviceCodePrompt`: the link, the code and a live countdown appear
inside the panel until the sign-in completes, while the kernel stays free.

Example
-------
>>> from ci_toolkit.widgets import SignInPanel
>>> panel = SignInPanel(ci)  # doctest: +SKIP
>>> panel  # doctest: +SKIP
"""

from __future__ import annotations

import html
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from ci_toolkit.widgets._common import CIWidget
from ci_toolkit.widgets.device_code import DeviceCodePrompt

if TYPE_CHECKING:
    from ci_toolkit.client import CustomerInsights

__all__ = ["SignInPanel"]

logger = logging.getLogger(__name__)


class _PanelPrompt:
    """The device code callback the panel installs: shows the prompt inside the panel."""

    def __init__(self, panel: SignInPanel) -> None:
        self.panel = panel

    def __call__(self, verification_uri: str, user_code: str, expires_on: datetime) -> None:
        self.panel.prompt(verification_uri, user_code, expires_on)
        self.panel.prompt.widget.layout.display = None
        self.panel.status.value = "<b>Sign-in pending</b>: open the link and enter the code."
        self.panel.pending = True

    def waiting(self, seconds_left: float) -> None:
        self.panel.prompt.waiting(seconds_left)

    def finished(self, *, success: bool, message: str) -> None:
        self.panel.pending = False
        self.panel.prompt.finished(success=success, message=message)


class SignInPanel(CIWidget):
    """Who is signed in (principal and role), to which instance, and a sign-out button.

    Parameters
    ----------
    ci
        The client (from ``ci_toolkit.connect()``).
    install_prompt
        Make the panel the connection's device code prompt (default), so a pending
        sign-in shows inside the panel.

    Attributes
    ----------
    status : ipywidgets.HTML
        The signed-in line (or "Signed out", "Sign-in pending").
    prompt : DeviceCodePrompt
        The device code prompt (hidden unless a sign-in is pending or just finished).
    buttons : dict[str, ipywidgets.Button]
        ``sign_out``, ``sign_in`` and ``check``.
    identity : dict[str, str]
        ``principalId``, ``principalType``, ``role``, ``instanceId``, ``instanceName``,
        ``instanceType`` (v1) and ``dataverseUrl``, ``dataverseUserId`` (Dataverse) after a
        successful check, for the configured paths; empty when signed out.
    resources : ipywidgets.HTML
        One line per resource (v1 API, Dataverse) and the active path.

    Example
    -------
    >>> panel = SignInPanel(ci)  # doctest: +SKIP
    >>> panel.wait_idle(); panel.identity["role"]  # doctest: +SKIP
    'admin'
    """

    def __init__(self, ci: CustomerInsights, *, install_prompt: bool = True, **kwargs: Any) -> None:
        super().__init__(ci, **kwargs)
        self.pending = False
        self.identity: dict[str, str] = {}
        self.status = widgets.HTML("Checking who is signed in...")
        self.resources = widgets.HTML(self._resources_html())
        self.prompt = DeviceCodePrompt(display=False)
        self.prompt.widget.layout.display = "none"
        self.buttons = {
            "sign_out": widgets.Button(description="Sign out", icon="sign-out", disabled=True),
            "sign_in": widgets.Button(description="Sign in", icon="sign-in", disabled=True),
            "check": widgets.Button(description="Check again", icon="refresh"),
        }
        self.buttons["sign_out"].on_click(lambda _: self.sign_out())
        self.buttons["sign_in"].on_click(lambda _: self.check())
        self.buttons["check"].on_click(lambda _: self.check())
        self.children = [
            widgets.HTML("<b>Customer Insights</b>"),
            self.status,
            self.resources,
            self.prompt.widget,
            widgets.HBox(list(self.buttons.values())),
            self.message,
        ]
        self._credential: Any = getattr(ci.session, "credential", None)
        self._previous_prompt: Any = None
        if install_prompt and self._credential is not None and hasattr(self._credential, "prompt"):
            self._previous_prompt = self._credential.prompt
            self._credential.prompt = _PanelPrompt(self)
        self.check()

    def check(self) -> None:
        """Ask the service who is signed in (signs in first if needed), in the background."""
        self.buttons["sign_in"].disabled = True
        self.submit(self._check)

    def _resources_html(self) -> str:
        sources = getattr(self.ci, "sources", ("v1",))
        active = getattr(self.ci, "source", "v1")
        rows = []
        for path, label in (("v1", "Customer Insights v1 API"), ("dataverse", "Dataverse")):
            if path not in sources:
                state = "<span style='color:#757575'>not configured</span>"
            elif path == "v1":
                state = html.escape(self.ci.session.base_url)
            else:
                state = html.escape(self.ci.dataverse.url)
            mark = " · <b>active path</b>" if path == active else ""
            rows.append(f"<li>{label}: {state}{mark}</li>")
        return f"<ul style='margin:0'>{''.join(rows)}</ul>"

    def _check(self) -> None:
        self.message.value = ""
        sources = getattr(self.ci, "sources", ("v1",))
        identity: dict[str, str] = {}
        parts: list[str] = []
        if "v1" in sources:
            role = self.ci.my_role()
            instance = self.ci.instance()
            identity.update(
                {
                    "principalId": str(role.get("principalId") or ""),
                    "principalType": str(role.get("principalType") or ""),
                    "role": str(role.get("role") or ""),
                    "instanceId": str(instance.get("instanceId") or self.ci.instance_id),
                    "instanceName": str(instance.get("name") or ""),
                    "instanceType": str(instance.get("instanceType") or ""),
                }
            )
            who = html.escape(f"{identity['principalType']} {identity['principalId']}")
            where = html.escape(
                f"{identity['instanceName']} ({identity['instanceType']}, {identity['instanceId']})"
            )
            parts.append(
                f"Signed in as {who} · role <b>{html.escape(identity['role'] or 'none')}</b> "
                f"· instance {where}"
            )
        if "dataverse" in sources:
            me = self.ci.dataverse.whoami()
            identity.update(
                {
                    "dataverseUrl": self.ci.dataverse.url,
                    "dataverseUserId": me.get("UserId", ""),
                }
            )
            parts.append(
                f"Dataverse user {html.escape(identity['dataverseUserId'])} "
                f"at {html.escape(identity['dataverseUrl'])}"
            )
        self.identity = identity
        self.resources.value = self._resources_html()
        self.status.value = "<span style='color:#2e7d32'>&#9679;</span> " + " · ".join(parts)
        if self.prompt.outcome == "success":
            self.prompt.widget.layout.display = "none"
        self.buttons["sign_out"].disabled = False
        self.buttons["sign_in"].disabled = True

    def show_error(self, exc: BaseException) -> None:
        """Show the error, and offer to sign in again."""
        super().show_error(exc)
        self.identity = {}
        self.status.value = "<span style='color:#b00'>&#9679;</span> Not signed in."
        self.buttons["sign_in"].disabled = False

    def sign_out(self) -> None:
        """Sign out (forget the account and its token cache), in the background."""
        self.buttons["sign_out"].disabled = True
        self.submit(self._sign_out)

    def _sign_out(self) -> None:
        self.ci.sign_out()
        self.identity = {}
        self.prompt.outcome = None
        self.status.value = (
            "<span style='color:#757575'>&#9675;</span> Signed out. The next request (or "
            "<i>Sign in</i>) asks for a new sign-in."
        )
        self.buttons["sign_in"].disabled = False

    def close(self) -> None:
        """Give the connection its previous device code prompt back and close."""
        if self._previous_prompt is not None and self._credential is not None:
            self._credential.prompt = self._previous_prompt
        super().close()
