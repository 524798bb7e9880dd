"""``python -m goldenpath.cli`` — the same as the ``platform`` console script.

The background server is started this way, so it runs with the same interpreter as the CLI.
"""

from goldenpath.cli.main import main

main()
