"""Customer 360: one unified profile with its activities and measures.

API operations (function -> returns: operation):

``customer(customer_id)`` -> ``Customer360`` (profile Series, activities DataFrame, measures Series)
    ``GET /instances/{instanceId}/data/Customer?$filter=CustomerId eq '<id>'``, then
    ``GET .../data/UnifiedActivity`` and ``GET .../data/Customer_Measure`` with the same
    filter (Get-entities-with-OData-path).
``customer(customer_id, source="dataverse")`` -> the same ``Customer360``, v1 names
    ``GET <org>/api/data/v9.2/msdynci_customerprofiles?$filter=msdynci_customerid eq '<id>'``,
    ``msdynci_unifiedactivities`` and ``msdynci_customermeasures`` with the same filter
    (columns renamed to their v1 names, see :mod:`ci_toolkit.dataverse.tables`).
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ci_toolkit.dataverse.paths import SourceMixin
from ci_toolkit.odata import eq
from ci_toolkit.resources.data import DataMixin

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Customer360", "CustomersMixin"]

logger = logging.getLogger(__name__)

#: Entities behind the customer 360 view.
PROFILE_ENTITY = "Customer"
ACTIVITY_ENTITY = "UnifiedActivity"
MEASURE_ENTITY = "Customer_Measure"
KEY = "CustomerId"


@dataclass(frozen=True)
class Customer360:
    """One customer: profile, activities (newest first) and measure values.

    Attributes
    ----------
    customer_id : str
        The unified ``CustomerId``.
    profile : pandas.Series
        The ``Customer`` row, typed.
    activities : pandas.DataFrame
        The customer's ``UnifiedActivity`` rows, newest first.
    measures : pandas.Series
        The customer's ``Customer_Measure`` values (empty when there are none).
    source : str
        The read path that served it, ``"v1"`` or ``"dataverse"``.

    Examples
    --------
    >>> c = ci.customer("ce759201f786d590bf2134bff576c369")  # doctest: +SKIP
    >>> c.activities["ActivityType"].value_counts()  # doctest: +SKIP
    """

    customer_id: str
    profile: pd.Series
    activities: pd.DataFrame
    measures: pd.Series
    source: str = "v1"

    @property
    def name(self) -> str:
        """A display name from the profile (full name, first + last, or the id)."""
        for key in ("FullName", "Name"):
            value = self.profile.get(key)
            if isinstance(value, str) and value:
                return value
        parts = [self.profile.get(k) for k in ("FirstName", "LastName")]
        text = " ".join(p for p in parts if isinstance(p, str) and p)
        return text or self.customer_id

    def __repr__(self) -> str:
        return (
            f"Customer360({self.name!r}, id={self.customer_id!r}, "
            f"{len(self.profile)} profile fields, {len(self.activities)} activities, "
            f"{len(self.measures)} measures, source={self.source!r})"
        )

    def _repr_html_(self) -> str:
        def table(series: pd.Series) -> str:
            rows = "".join(
                f"<tr><th style='text-align:left'>{html.escape(str(k))}</th>"
                f"<td style='text-align:left'>{html.escape(str(v))}</td></tr>"
                for k, v in series.items()
                if v is not None and str(v) not in ("<NA>", "NaT", "nan")
            )
            return f"<table>{rows}</table>"

        recent = self.activities.head(10)
        return (
            f"<h4>{html.escape(self.name)} <small>({html.escape(self.customer_id)}, "
            f"read through {html.escape(self.source)})</small></h4>"
            f"<b>Profile</b>{table(self.profile)}"
            f"<b>Measures</b>{table(self.measures) if len(self.measures) else '<p>none</p>'}"
            f"<b>Activities</b> ({len(self.activities)}, latest 10)"
            f"{recent.to_html(index=False, max_cols=8)}"
        )


class CustomersMixin(DataMixin, SourceMixin):
    """Customer 360 reads."""

    def customer(self, customer_id: str, *, source: str | None = None) -> Customer360:
        """A customer's profile, activities and measures (customer 360).

        Parameters
        ----------
        customer_id : str
            The unified ``CustomerId``.
        source : {"v1", "dataverse"}, optional
            The read path; the connection's default (``ci.source``) when ``None``. Both give
            the same fields under the same (v1) names.

        Returns
        -------
        Customer360
            ``profile`` (Series), ``activities`` (DataFrame, newest first) and
            ``measures`` (Series); displays as a small card in notebooks.

        Raises
        ------
        ci_toolkit.exceptions.NotFoundError
            When no profile has this id.

        Examples
        --------
        >>> ci.customer(ci.query("Customer", top=1)["CustomerId"][0]).profile  # doctest: +SKIP
        """
        import pandas as pd

        from ci_toolkit.exceptions import NotFoundError

        if not isinstance(customer_id, str) or not customer_id:
            raise ValueError("customer_id must be a non-empty string")
        if self._pick(source) == "dataverse":
            return self._customer_dataverse(customer_id)
        where = eq(KEY, customer_id)
        profiles = self.query(PROFILE_ENTITY, filter=where, progress=False)
        if profiles.empty:
            raise NotFoundError(
                f"no customer profile with CustomerId {customer_id!r}; find ids with "
                "ci.query('Customer', search=..., select=['CustomerId']).",
                status=404,
            )
        profile = profiles.iloc[0]
        profile.name = customer_id
        activities = self.query(ACTIVITY_ENTITY, filter=where, progress=False)
        for column in ("ActivityTime", "EndTime"):
            if column in activities.columns:
                activities = activities.sort_values(
                    column, ascending=False, na_position="last", kind="stable"
                ).reset_index(drop=True)
                break
        measure_rows = self.query(MEASURE_ENTITY, filter=where, progress=False)
        if measure_rows.empty:
            measures = pd.Series(dtype=object)
        else:
            measures = measure_rows.drop(columns=[KEY], errors="ignore").iloc[0]
            measures.name = customer_id
        return Customer360(customer_id, profile, activities, measures)

    def _customer_dataverse(self, customer_id: str) -> Customer360:
        import pandas as pd

        from ci_toolkit.exceptions import NotFoundError

        dv = self.dataverse
        profiles = dv.profiles([customer_id])
        if profiles.empty:
            raise NotFoundError(
                f"no customer profile with msdynci_customerid {customer_id!r} in Dataverse; "
                "find ids with ci.dataverse.query('msdynci_customerprofile', "
                "select=['msdynci_customerid'], top=10).",
                status=404,
            )
        profile = profiles.iloc[0]
        profile.name = customer_id
        activities = dv.activities(customer_id)
        if "ActivityTime" in activities.columns:
            activities = activities.sort_values(
                "ActivityTime", ascending=False, na_position="last", kind="stable"
            ).reset_index(drop=True)
        activities.attrs = {"source": "dataverse"}
        values = dv.measures(customer_id)
        measures = pd.Series(values, dtype=object) if values else pd.Series(dtype=object)
        measures.name = customer_id if values else None
        return Customer360(customer_id, profile, activities, measures, source="dataverse")
