"""``python -m drucker`` runs the command line.

Guarded: the worker processes that decode big REST bodies (spawned) import this module again
under another name, and must not run the command line.
"""

from drucker.cli import main

if __name__ == "__main__":
    main()
