"""Deployments: environments, immutable deployment records, strategies (rolling, canary,
blue-green, Argo Rollouts vocabulary), analysis, promote/abort/rollback and the reconciler.
Plain Python: no web imports; runtimes are reached through :mod:`goldenpath.drivers.base`."""
