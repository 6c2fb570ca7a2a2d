"""``python -m gputwin``: the same command line as the ``gputwin`` console script."""

from gputwin.cli.main import main

main()
