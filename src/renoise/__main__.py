"""``python -m renoise``: the command line."""

from renoise.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
