"""Secrets: versioned, encrypted at rest (envelope encryption), rotated, injected."""
