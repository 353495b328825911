"""`python -m lienthong.cli ...` runs the `lienthong` command."""

from lienthong.cli import main

main()
