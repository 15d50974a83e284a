"""Provision the fleet's object store: ``python -m interp_services.provision``.

Creates the bucket of ``store_url`` and its expiry lifecycle rules (objects live ``store_ttl_s``,
rounded up to whole days), waiting for the S3 endpoint to come up first. Object keys start with
their tenant, so there is one rule per tenant the fleet serves (those of the API keys, plus
``default``, the tenant of calls without a key), scoped to ``{tenant}/`` and merged into the
bucket's lifecycle configuration: a shared bucket keeps its other rules, and its objects outside
the tenants' prefixes never expire through us. A tenant added to the keys later gets its rule at
the next run (``helm upgrade``); until then the storage service's sweeps expire its objects.

The Helm chart runs it as a post-install/post-upgrade Job with the fleet's own settings and
credentials, so the bucket the services use is provisioned by the same code that opens it.
Idempotent; a local store needs nothing and is reported as such.

Exit status: 0 provisioned, 1 the endpoint never answered (or refused the credentials) in time,
2 bad settings.
"""

from __future__ import annotations

import argparse
import sys
import time

from interp_services.core.errors import InterpError, Unavailable
from interp_services.settings import FleetSettings, load_settings
from interp_services.store import open_store


def provision(settings: FleetSettings, *, wait_s: float = 300.0, interval_s: float = 2.0) -> str:
    """Create the bucket and its lifecycle rule; return a line saying what was done.

    Raises:
        Unavailable: the endpoint still did not answer after ``wait_s``.
        InterpError: the store refused (e.g. the credentials); not retried.
    """
    if not settings.store_url.startswith("s3://"):
        return f"{settings.store_url}: a local store, nothing to provision"
    tenants = settings.tenants()
    deadline = time.monotonic() + wait_s
    while True:
        try:
            store = open_store(settings.store_url, ttl_s=settings.store_ttl_s, **settings.store_options())
            lifecycle = store.ensure_lifecycle(tenants)
            break
        except Unavailable:
            if time.monotonic() + interval_s > deadline:
                raise
            time.sleep(interval_s)
    if not settings.store_ttl_s:
        rule = "objects never expire (store_ttl_s: 0)"
    elif lifecycle:
        rule = f"lifecycle rules for tenants {', '.join(tenants)}: objects expire after {store.expiry_days} day(s)"
    else:
        rule = "the server takes no lifecycle rules; the storage service's sweeps expire objects"
    return f"bucket {store.bucket!r} ready at {settings.store_url}; {rule}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m interp_services.provision", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="settings YAML (INTERP_CONFIG when absent); credentials from AWS_* variables")
    parser.add_argument("--wait", type=float, default=300.0, help="seconds to wait for the endpoint (default 300)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
    except (OSError, ValueError) as exc:
        print(f"provision: {exc}", file=sys.stderr)
        return 2
    try:
        print(provision(settings, wait_s=args.wait), flush=True)
    except ValueError as exc:  # e.g. missing credentials
        print(f"provision: {exc}", file=sys.stderr)
        return 2
    except InterpError as exc:
        print(f"provision: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
