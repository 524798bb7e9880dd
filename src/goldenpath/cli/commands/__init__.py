"""Command groups of ``platform``: one module per group (``server``, ``catalog``, ``auth``)."""
