"""``python -m drucker`` runs the command line."""

from drucker.cli import main

main()
