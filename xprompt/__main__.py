"""``python -m xprompt`` runs the command line."""

from xprompt.cli import main

if __name__ == "__main__":
    main()
