"""`python -m bot` is the same command line as the `challenge-bot` console script."""

from bot.cli import main

raise SystemExit(main())
