"""Defaults of the client side, in one place (scopes, URLs, timeouts, retries, paging).

Nothing here imports anything heavy: every other client module reads its defaults from here.
"""

from __future__ import annotations

__all__ = [
    "APP_NAME",
    "APP_PORT",
    "AUTHORITY_HOST",
    "BACKOFF_INITIAL",
    "BACKOFF_JITTER",
    "BACKOFF_MAX",
    "BULK_BATCH_PARTITION_ROWS",
    "BULK_JOIN_PARTITION_ROWS",
    "BULK_JOIN_ROWS",
    "BULK_MAX_CONCURRENCY",
    "BULK_MAX_LINK_RESUMES",
    "BULK_MAX_REFETCHES",
    "BULK_PARTITION_ROWS",
    "CONFIG_FILE_NAME",
    "CONNECT_TIMEOUT",
    "DATAVERSE_API_PATH",
    "DATAVERSE_BULK_MAX_CONCURRENCY",
    "DATAVERSE_BULK_PARTITIONS",
    "DATAVERSE_BULK_PARTITION_ROWS",
    "DATAVERSE_COUNT_CAP",
    "DATAVERSE_HEADERS",
    "DATAVERSE_MAX_CONCURRENCY",
    "DATAVERSE_MAX_PAGE_SIZE",
    "DATAVERSE_OR_CHUNK",
    "DATAVERSE_TABLE_PREFIX",
    "DEFAULT_BASE_URL",
    "DELEGATED_SCOPE",
    "DEVICE_CODE_POLL_STEP",
    "ENV_VARS",
    "JOB_MAX_FAILED_POLLS",
    "JOB_RECENT_JOBS",
    "JOB_UNSURE_STATUSES",
    "MAX_CONNECTIONS",
    "MAX_RETRY_AFTER",
    "MAX_RETRY_ATTEMPTS",
    "MAX_RETRY_ELAPSED",
    "MAX_THROTTLED_ATTEMPTS",
    "MAX_URL_LENGTH",
    "PAGE_SIZE",
    "POOL_TIMEOUT",
    "READ_TIMEOUT",
    "REQUEST_ID_HEADERS",
    "RETRY_STATUSES",
    "SAFE_METHODS",
    "SERVICE_SCOPE",
    "SUBSCRIPTION_KEY_HEADER",
    "TOKEN_CACHE_PREFIX",
    "TOKEN_REFRESH_MARGIN",
    "USER_AGENT",
    "WRITE_TIMEOUT",
]

APP_NAME = "ci-toolkit"
"""Folder name under the platform's config and cache dirs (platformdirs)."""

# --- service -----------------------------------------------------------------------------------
DEFAULT_BASE_URL = "https://api.ci.ai.dynamics.com/v1"
AUTHORITY_HOST = "https://login.microsoftonline.com"
DELEGATED_SCOPE = "https://api.ci.ai.microsoft.com/user_impersonation"
"""Scope of the device code (delegated) sign-in."""
SERVICE_SCOPE = "https://api.ci.ai.microsoft.com/.default"
"""Scope of the client credentials (server-to-server) sign-in."""
SUBSCRIPTION_KEY_HEADER = "Ocp-Apim-Subscription-Key"
REQUEST_ID_HEADERS = ("x-ms-request-id", "x-ms-correlation-id", "request-id")
USER_AGENT = "ci-toolkit"

# --- Dataverse (issue 14) ---------------------------------------------------------------------
DATAVERSE_API_PATH = "api/data/v9.2"
"""Service root under the environment URL: ``https://contoso.crm.dynamics.com/api/data/v9.2/``."""
DATAVERSE_HEADERS = {
    "Accept": "application/json",
    "OData-MaxVersion": "4.0",
    "OData-Version": "4.0",
    "If-None-Match": "null",
}
"""Headers every Dataverse Web API request carries (DATAVERSE-NOTES section 2)."""
DATAVERSE_MAX_PAGE_SIZE = 500
"""Default and largest ``Prefer: odata.maxpagesize`` of the Customer Insights (elastic) tables."""
DATAVERSE_COUNT_CAP = 500
"""``$count=true`` counts at most this many rows of an elastic table (5,000 on standard
tables); a count equal to it means "at least" when the service sends no
``totalrecordcountlimitexceeded`` annotation."""
DATAVERSE_OR_CHUNK = 50
"""Customer ids per ``or`` filter when reading profiles by id (URL length, condition limit)."""
DATAVERSE_TABLE_PREFIX = "msdynci_"
"""Prefix of the Customer Insights tables and columns in Dataverse."""
DATAVERSE_MAX_CONCURRENCY = 52
"""Dataverse's service protection limit of concurrent requests per user (DATAVERSE-NOTES 0.9):
a bulk pull never asks for more."""
DATAVERSE_BULK_MAX_CONCURRENCY = 16
"""Requests in flight at most in a Dataverse bulk pull, by default (well under the 52 allowed,
leaving room for the user's other sessions on the same per-user limits)."""
DATAVERSE_BULK_PARTITIONS = 128
"""Most key ranges of a Dataverse bulk pull: their boundaries are put in order by one request
``key eq b1 or key eq b2 ...`` whose URL must stay short (about 10 KB at 128)."""
DATAVERSE_BULK_PARTITION_ROWS = 2_500
"""Rows per key range when the service's count is exact (under its cap)."""

# --- settings ----------------------------------------------------------------------------------
ENV_VARS = {
    "tenant_id": "CI_TENANT_ID",
    "client_id": "CI_CLIENT_ID",
    "client_secret": "CI_CLIENT_SECRET",
    "subscription_key": "CI_SUBSCRIPTION_KEY",
    "instance_id": "CI_INSTANCE_ID",
    "base_url": "CI_BASE_URL",
    "authority": "CI_AUTHORITY",
    "ca_file": "CI_CA_FILE",
    "dataverse_url": "CI_DATAVERSE_URL",
}
"""Setting name -> environment variable."""
CONFIG_FILE_NAME = "config.toml"
TOKEN_CACHE_PREFIX = "token-cache-"

# --- HTTP --------------------------------------------------------------------------------------
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
WRITE_TIMEOUT = 60.0
POOL_TIMEOUT = 10.0
MAX_CONNECTIONS = 10
MAX_URL_LENGTH = 8_192
"""Longest request URL sent: the service's limit is not documented; 8 KiB is the limit of
common Azure front ends (Front Door, and IIS-style defaults are lower still)."""

# --- retries -----------------------------------------------------------------------------------
RETRY_STATUSES = frozenset({429, 502, 503, 504})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
"""Methods that are repeated on a retryable failure; POST and PATCH are not."""
MAX_RETRY_ATTEMPTS = 5
"""Attempts in total (the first one included)."""
MAX_RETRY_ELAPSED = 120.0
"""Seconds after which no further attempt starts."""
BACKOFF_INITIAL = 0.5
BACKOFF_MAX = 16.0
BACKOFF_JITTER = 0.5
MAX_RETRY_AFTER = 60.0
"""A ``Retry-After`` longer than this is not waited for: the ``ThrottledError`` is raised."""
MAX_THROTTLED_ATTEMPTS = 12
"""Attempts of one request of a parallel pull answered with a throttle (429/502/503/504)."""

# --- sign-in -----------------------------------------------------------------------------------
DEVICE_CODE_POLL_STEP = 0.5
"""Seconds between status updates of the device code prompt while waiting."""
TOKEN_REFRESH_MARGIN = 300.0
"""Refresh a token this many seconds before it expires (or at half its life if shorter)."""

# --- jobs --------------------------------------------------------------------------------------
JOB_MAX_FAILED_POLLS = 3
"""Polls in a row ``JobHandle.wait`` lets fail (after their retries) before it gives up."""
JOB_RECENT_JOBS = 50
"""Recent jobs listed to tell a job this client submitted from the ones before it."""
JOB_UNSURE_STATUSES = frozenset({502, 503, 504})
"""Statuses after which a job submission may or may not have created the job."""

# --- data --------------------------------------------------------------------------------------
PAGE_SIZE = 100
"""Objects per response the service returns by default."""

# --- bulk pulls --------------------------------------------------------------------------------
BULK_MAX_CONCURRENCY = 10
"""Requests in flight at most (the connection pool holds ``MAX_CONNECTIONS``)."""
BULK_PARTITION_ROWS = 5_000
"""Rows per key range of a parallel pull."""
BULK_BATCH_PARTITION_ROWS = 5_000
"""Rows per key range when streaming (``iter_batches``, ``to_parquet``): at most this many."""
BULK_MAX_LINK_RESUMES = 3
"""Times a partition continues after its last key when its nextLink is refused."""
BULK_JOIN_PARTITION_ROWS = 1_000
"""A finished row-offset range of at most this many rows stays Arrow-typed to join others."""
BULK_JOIN_ROWS = 5_000
"""Rows at most in one DataFrame made from several such partitions (one conversion)."""
BULK_MAX_REFETCHES = 2
"""Times a partition with the wrong number of rows is fetched again."""
# --- dashboard app -------------------------------------------------------------------------------
APP_PORT = 8866
"""Port ``ci-toolkit app`` serves the dashboard on (Voilà's usual port)."""
