"""`python -m gateway` is the `boomerang` command."""

from gateway.cli import main

main()
