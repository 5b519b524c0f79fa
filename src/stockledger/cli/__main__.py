"""`python -m stockledger.cli`, as the `stockledger` script."""

from . import app

app()
