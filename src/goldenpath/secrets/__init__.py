"""Secrets: versioned, encrypted at rest (envelope encryption), rotated, injected.

Modules: ``model`` (SecretScope, SecretMeta, RotationResult, input checks), ``envelope``
(AES-256-GCM data keys wrapped by a master key), ``keyring`` (master keys from
``GOLDENPATH_SECRETS__MASTER_KEY`` or a 0600 key file; ``MasterKeyMissing``), ``backend`` (the
storage port), ``store`` (the local backend: sealed rows, migration ``0006_secrets``),
``vault`` (HashiCorp Vault KV v2 via hvac), ``service.SecretService`` (the use cases).
"""
