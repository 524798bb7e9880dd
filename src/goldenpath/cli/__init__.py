"""The ``platform`` command line: a thin HTTP client of the goldenpath API.

Modules: ``main`` (the Typer app and :func:`main`), ``client`` (httpx, auto-starts a local
server), ``localserver`` (start/stop/status of the background server), ``pids`` (the registry
of processes the platform started for a data directory), ``output`` (table/json/yaml),
``exits`` (exit codes, mapped once) and ``commands/`` (one module per command group).
"""
