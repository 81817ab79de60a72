"""Errors of the lake reader: each names what was wrong and how to fix it."""

from __future__ import annotations

from ci_toolkit.exceptions import CustomerInsightsError

__all__ = ["LAKE_EXTRA", "LakeError", "MissingDependencyError"]

#: The optional extra that installs fsspec and adlfs.
LAKE_EXTRA = "pip install 'ci-toolkit[lake]'"


class LakeError(CustomerInsightsError, ValueError):
    """An export folder, its ``model.json`` or a partition file cannot be read as asked.

    Examples
    --------
    >>> str(LakeError("no model.json in /tmp/x"))
    'no model.json in /tmp/x'
    """


class MissingDependencyError(LakeError, ImportError):
    """An optional package (fsspec, adlfs, dask, distributed) is not installed.

    Examples
    --------
    >>> "ci-toolkit[lake]" in str(MissingDependencyError.for_package("adlfs", "lake"))
    True
    """

    @classmethod
    def for_package(cls, package: str, extra: str, what: str = "") -> MissingDependencyError:
        """The error for a missing ``package`` that ``ci-toolkit[extra]`` installs."""
        purpose = f" to {what}" if what else ""
        return cls(
            f"the optional package {package!r} is needed{purpose}: "
            f"pip install 'ci-toolkit[{extra}]' (or pip install {package})"
        )
