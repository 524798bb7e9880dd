"""Self-service resources: claims matched to compositions, size classes.

Connection outputs become secrets (Crossplane's claim → composition model).
"""
