"""Self-service resources: claims matched to compositions, size classes, outputs as secrets (Crossplane's claim → composition model)."""
