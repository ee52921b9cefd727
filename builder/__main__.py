"""``python -m builder``: the same as the ``cmfw`` command."""

from .cli import main

main()
