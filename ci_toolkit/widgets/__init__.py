"""Notebook widgets (ipywidgets only, no HTTP code), one widget per module.

Every widget takes a :class:`~ci_toolkit.client.CustomerInsights`, talks to the service on
a background thread (a cell returns at once; ``widget.wait_idle()`` waits for it in
scripts and tests), and shows service errors as a readable line in ``widget.message``.

========================  ====================================================
``SignInPanel``           who is signed in, to which instance; device code; sign-out
``InstancePicker``        choose the instance the session works on
``EntityBrowser``         entities, row counts, attributes and sample rows
``SegmentExplorer``       segments, definition, size history, members, actions
``ExportMonitor``         exports with status badges; run now; run-history chart
``CustomerLookup``        search customers; profile card, activities, measures
``JobMonitor``            recent refresh jobs; tasks timeline; live progress
``DeviceCodePrompt``      the device code prompt ``connect()`` shows in notebooks
========================  ====================================================

Example
-------
>>> from ci_toolkit.widgets import DeviceCodePrompt
>>> prompt = DeviceCodePrompt()
"""

from __future__ import annotations

from ci_toolkit.widgets.customer_lookup import CustomerLookup
from ci_toolkit.widgets.device_code import DeviceCodePrompt
from ci_toolkit.widgets.entity_browser import EntityBrowser
from ci_toolkit.widgets.export_monitor import ExportMonitor
from ci_toolkit.widgets.instance_picker import InstancePicker
from ci_toolkit.widgets.job_monitor import JobMonitor
from ci_toolkit.widgets.segment_explorer import SegmentExplorer
from ci_toolkit.widgets.sign_in import SignInPanel

__all__ = [
    "CustomerLookup",
    "DeviceCodePrompt",
    "EntityBrowser",
    "ExportMonitor",
    "InstancePicker",
    "JobMonitor",
    "SegmentExplorer",
    "SignInPanel",
]
