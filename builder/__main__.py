"""``python -m builder`` runs the cmfw command."""

from .cli import main

main()
