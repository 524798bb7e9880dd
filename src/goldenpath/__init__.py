"""goldenpath: an Internal Developer Platform.

Layers (see DESIGN.md): ``cli``/``api`` (edges) over the domain packages (``catalog``,
``auth``, …) over infrastructure (``store``). Imports only go down.
"""

__version__ = "0.1.0"
