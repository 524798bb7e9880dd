"""Pure renderers: a Workload, its environment and resources → Kubernetes objects.

Deployment or Argo Rollout, Service, Ingress with TLS, HPA, PDB, NetworkPolicy,
ServiceAccount, observability (ServiceMonitor, PrometheusRule, Grafana dashboard) and CI
pipelines. No IO: the kubernetes driver (goldenpath.drivers.kubernetes) writes them out.
"""
