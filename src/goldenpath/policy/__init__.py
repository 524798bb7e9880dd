"""Policy guardrails: Rego (OPA) bundles checked on every deploy, provision and scaffold request."""
