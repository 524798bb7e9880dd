"""Runtime drivers: where workloads actually run (infrastructure, below the domains).

:mod:`goldenpath.drivers.base` is the contract ``deploy`` calls; :mod:`goldenpath.drivers.local`
is the embedded default (builds with uv/npm, supervised processes, an HAProxy router).
Drivers know builds, processes and routes, never deployments or the store.
"""
