"""Print the options table of docs/cli.md from the CLI itself (tests/cli/test_vocabulary.py checks
that the docs hold exactly this table).

    .venv/bin/python tools/cli_table.py > /tmp/table.md
"""

import sys

from perfmodel.cli import app
from perfmodel.cli.vocabulary import markdown_table

sys.stdout.write(markdown_table(app))
