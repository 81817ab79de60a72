"""``export_preview``: what an export sends, shown before (or instead of) sending it.

A Braze export sends its segment's members to Braze's ``POST /users/track``: each member as
``{"external_id": CustomerId, "email": Email, "ci_segment_<segment>": true}``, 75 to a
request. The v1 API has no export definitions, so the segment comes from the refresh
history: the segmentation task an export task waited on (or ``segment=`` when no full
refresh has run yet). The rows come from ``segment_members``.

Example
-------
>>> ci.export_preview("braze-gold-members").head()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ci_toolkit.resources.exports import ExportsMixin, connection_type
from ci_toolkit.resources.segments import SegmentsMixin

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["BRAZE_BATCH", "ExportPreviewMixin", "braze_attribute"]

logger = logging.getLogger(__name__)

#: User attribute objects per Braze ``/users/track`` request.
BRAZE_BATCH = 75


def braze_attribute(segment: str) -> str:
    """The Braze custom attribute carrying membership of ``segment`` (a boolean).

    Examples
    --------
    >>> braze_attribute("GoldMembers")
    'ci_segment_GoldMembers'
    """
    return f"ci_segment_{segment}"


class ExportPreviewMixin(SegmentsMixin, ExportsMixin):
    """What an export would send."""

    def _export_segment(self, node: dict[str, Any]) -> str | None:
        """The segment an export task waited on in the latest job that ran both."""
        jobs = self._get(self._workflow_path("jobs"), {"top": 100, "includeTasks": "true"})
        for job in jobs or []:
            tasks = job.get("tasks") or []
            by_id = {t.get("taskId"): t for t in tasks}
            for task in tasks:
                if task.get("friendlyName") != node.get("friendlyName"):
                    continue
                for waiting in task.get("waitingTaskIds") or []:
                    upstream = by_id.get(waiting) or {}
                    if upstream.get("operationType") == "segmentation":
                        return str(upstream.get("friendlyName"))
        return None

    def export_preview(
        self, identifier: str, *, segment: str | None = None, top: int | None = 100
    ) -> pd.DataFrame:
        """The user attributes a Braze export sends, one row per segment member.

        Parameters
        ----------
        identifier : str
            The export's identifier or friendly name (see :meth:`exports`).
        segment : str, optional
            The segment it sends; found in the refresh history when not given.
        top : int or None
            At most this many members (``None``: all).

        Returns
        -------
        pandas.DataFrame
            ``external_id``, ``email`` and the boolean membership attribute
            (``ci_segment_<segment>``); ``df.attrs["requests"]`` holds the
            ``POST /users/track`` bodies for these rows, 75 users each.

        Raises
        ------
        NotFoundError
            Unknown export.
        ValueError
            Not a Braze export, or its segment cannot be found (pass ``segment=``).

        Examples
        --------
        >>> ci.export_preview("braze-gold-members", top=5)  # doctest: +SKIP
        """
        import pandas as pd

        node = self._export_node(identifier)
        kind = connection_type(node.get("friendlyName"), node.get("identifier"))
        if kind != "Braze":
            raise ValueError(
                f"export {identifier!r} sends to {kind or 'an unknown connection'}: a preview "
                "is available for Braze exports; a data-out export's files are read with "
                "ci_toolkit.lake.open_export(...)"
            )
        name = segment or self._export_segment(node)
        if not name:
            raise ValueError(
                f"the segment export {identifier!r} sends is not in the refresh history yet "
                "(no full refresh has run it): pass segment='<segment name>'"
            )
        members = self.segment_members(
            name, select=["CustomerId", "Email"], top=top, progress=False
        )
        attribute = braze_attribute(name)
        frame = pd.DataFrame(
            {
                "external_id": members["CustomerId"].astype("string"),
                "email": members["Email"].astype("string"),
                attribute: pd.array([True] * len(members), dtype="boolean"),
            }
        ).reset_index(drop=True)
        users = []
        for external_id, email in zip(frame["external_id"], frame["email"], strict=True):
            user: dict[str, Any] = {"external_id": str(external_id)}
            if not pd.isna(email) and email:
                user["email"] = str(email)
            user[attribute] = True
            users.append(user)
        frame.attrs["requests"] = [
            {"attributes": users[i : i + BRAZE_BATCH]} for i in range(0, len(users), BRAZE_BATCH)
        ]
        frame.attrs["segment"] = name
        return frame
