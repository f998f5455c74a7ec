"""`python3 -m mailsuite.mailctl`: the same command as bin/mailctl."""

from . import main

main(prog_name="mailctl")
