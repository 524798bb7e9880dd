"""The software catalog, compatible with the Backstage catalog model (``backstage.io/v1alpha1``).

Pure model and processing (no IO beyond what is injected): ``refs``, ``yamldocs``,
``validation``, ``placeholders``, ``relations``, ``processing``. Reading sources:
``locations``. Persistence: ``store``. Use cases: ``service``.
"""
