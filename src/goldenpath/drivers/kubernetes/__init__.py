"""The kubernetes driver: rendered manifests into a GitOps repository (Argo CD / Flux)."""
