"""``python -m renoise``: the command line."""

from renoise.cli import main

raise SystemExit(main())
