"""Policy guardrails: Rego (OPA) bundles checked on every deploy, provision and scaffold request.

- :mod:`goldenpath.policy.service` — ``PolicyService`` (``check``, ``enforce``, ``reload``,
  ``decisions``, ``policies``, ``test``) and ``PolicyDenied``;
- :mod:`goldenpath.policy.model` — ``Violation``, ``Decision``, ``PolicyFile``, ``TestReport``;
- :mod:`goldenpath.policy.sources` — the built-in bundle (``builtin/*.rego`` and its example
  cases ``*_test.yaml``) and the platform team's policy directory (same name = override);
- :mod:`goldenpath.policy.testing` — ``platform policy test`` case files;
- :mod:`goldenpath.policy.store` — the ``policy_decisions`` table (migration ``0007_policy``);
- ``_rego`` (private) — compiling once and evaluating with regopy (rego-cpp, Rego v1).

The input documents and the rule format are documented in ``docs/policy.md``.
"""

__all__: list[str] = []
