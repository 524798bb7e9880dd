"""Self-service resources: claims matched to compositions, size classes.

Connection outputs become secrets (Crossplane's claim → composition model). The use cases
are :class:`goldenpath.resources.service.ResourceService`; the reference is
``docs/resources.md``.
"""

__all__: list[str] = []
