"""What a Dask worker runs: sign in from its own settings, pull one key range, type it.

Nothing secret travels to a worker. A :class:`WorkerConnection` names the service (base
URL, authority, tenant, client id, CA file, instance) and nothing else; the worker adds the
secrets from its own environment or config file (``CI_SUBSCRIPTION_KEY``,
``CI_CLIENT_SECRET``), exactly as ``ci_toolkit.connect()`` does in a notebook. A worker on
the machine where the notebook signed in finds the user's token in the shared token cache
and signs in silently; a worker elsewhere needs client credentials (a service principal) in
its environment. A worker never shows a device code: it raises
:class:`WorkerSignInError` saying how to give it credentials.

Example
-------
>>> conn = WorkerConnection(base_url="https://api.ci.ai.dynamics.com/v1",
...     authority="https://login.microsoftonline.com/t", client_id="c", instance_id=None)
>>> "secret" in repr(conn)
False
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, NoReturn

import pandas as pd

from ci_toolkit.exceptions import ConfigurationError, SignInError

if TYPE_CHECKING:
    from ci_toolkit.client import CustomerInsights

__all__ = ["RangeTask", "WorkerConnection", "WorkerSignInError", "read_range", "worker_client"]

logger = logging.getLogger(__name__)

_HOW = (
    "give the Dask workers credentials of their own: on the machine where you signed in, "
    "keep connect(token_cache=True) (the default) and set CI_SUBSCRIPTION_KEY in the "
    "workers' environment (or the config file); on a cluster, set CI_TENANT_ID, CI_CLIENT_ID, "
    "CI_CLIENT_SECRET (a service principal with a role on the instance) and "
    "CI_SUBSCRIPTION_KEY in the workers' environment. Secrets never travel in the task graph."
)


class WorkerSignInError(SignInError):
    """A Dask worker could not sign in from its own settings (the message says how to fix)."""


@dataclass(frozen=True)
class WorkerConnection:
    """The non-secret coordinates of a connection, shipped to Dask workers.

    Parameters
    ----------
    base_url
        The API root.
    authority
        The Azure AD authority (``https://login.microsoftonline.com/<tenant>``).
    client_id
        The app registration the workers sign in as (a confidential client's id when the
        workers use client credentials).
    instance_id
        The instance to read.
    tenant_id
        The tenant (optional when the authority names it).
    ca_file
        A private CA bundle to trust (a path the workers can read), e.g. the emulator's.
    """

    base_url: str
    authority: str
    client_id: str
    instance_id: str | None
    tenant_id: str | None = None
    ca_file: str | None = None

    @classmethod
    def from_client(cls, ci: CustomerInsights) -> WorkerConnection:
        """The coordinates of ``ci``'s connection (built by ``ci_toolkit.connect()``).

        Raises
        ------
        ConfigurationError
            ``ci`` was not built from settings (pass ``connection=WorkerConnection(...)``).
        """
        session = ci._session
        settings = getattr(session.credential, "settings", None)
        if settings is None:
            raise ConfigurationError(
                "this client was not built by ci_toolkit.connect(), so the workers cannot "
                "know where to sign in: pass connection=WorkerConnection(base_url=..., "
                "authority=..., client_id=..., instance_id=...)"
            )
        return cls(
            base_url=str(settings.base_url),
            authority=str(settings.authority),
            client_id=str(settings.client_id),
            instance_id=ci.instance_id,
            tenant_id=settings.tenant_id,
            ca_file=str(settings.ca_file) if settings.ca_file else None,
        )


def _refuse_prompt(verification_uri: str, user_code: str, expires_on: datetime) -> NoReturn:
    raise WorkerSignInError(
        f"Dask worker (pid {os.getpid()}) would have to sign in with a device code, which "
        f"nobody can answer on a worker: {_HOW}"
    )


_clients: dict[WorkerConnection, CustomerInsights] = {}
_clients_lock = threading.Lock()


def worker_client(connection: WorkerConnection) -> CustomerInsights:
    """This process's client for ``connection`` (signed in once, then reused).

    Raises
    ------
    WorkerSignInError
        The worker has no credentials of its own (the message says how to give them).
    """
    from ci_toolkit.connection import connect

    with _clients_lock:
        client = _clients.get(connection)
        if client is not None:
            return client
        try:
            client = connect(
                base_url=connection.base_url,
                authority=connection.authority,
                client_id=connection.client_id,
                tenant_id=connection.tenant_id,
                instance_id=connection.instance_id,
                ca_file=connection.ca_file,
                emulator=False,
                prompt=_refuse_prompt,
            )
        except WorkerSignInError:
            raise
        except ConfigurationError as error:
            raise WorkerSignInError(
                f"Dask worker (pid {os.getpid()}) has incomplete settings ({error.message}): {_HOW}"
            ) from None
        except SignInError as error:
            raise WorkerSignInError(
                f"Dask worker (pid {os.getpid()}) could not sign in ({error.message}): {_HOW}"
            ) from None
        _clients[connection] = client
        return client


@dataclass(frozen=True)
class RangeTask:
    """One key range of an entity: what a worker pulls (no secret in here).

    ``pull_id`` tells one ``to_dask`` call's ranges from another's with equal coordinates.
    """

    pull_id: str
    connection: WorkerConnection
    entity: str
    filter: str | None
    select: tuple[str, ...] | None
    key: str
    drop_key: bool
    expected: int
    index: int


def read_range(task: RangeTask, columns: list[str] | None = None) -> pd.DataFrame:
    """Pull one key range on a worker, in key order, typed as ``ci.query`` types it.

    ``columns`` (Dask's column projection) keeps only those columns.
    """
    client = worker_client(task.connection)
    select = list(task.select) if task.select else None
    frame = client.query(task.entity, filter=task.filter, select=select, progress=False)
    frame = frame.sort_values(task.key, kind="stable").reset_index(drop=True)
    if frame[task.key].duplicated().any():  # exactly once, whatever the paging did
        frame = frame.drop_duplicates(task.key).reset_index(drop=True)
    if len(frame) != task.expected:
        logger.info(
            "%s range %d: %d rows (planned %d; the data changed meanwhile)",
            task.entity,
            task.index,
            len(frame),
            task.expected,
        )
    if task.drop_key:
        frame = frame.drop(columns=[task.key])
    frame.attrs = {}
    if columns is not None:
        frame = frame[list(columns)]
    return frame
