"""The options table of docs/cli.md, generated from the CLI itself (tests/cli/test_vocabulary.py
checks that the docs hold exactly this table).

    .venv/bin/python tools/cli_table.py            # print it
    .venv/bin/python tools/cli_table.py --write    # replace the table in docs/cli.md
"""

import sys
from pathlib import Path

from perfmodel.cli import app
from perfmodel.cli.vocabulary import markdown_table

DOCS = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
HEADER = "| option | short | value | commands |"

table = markdown_table(app)
if "--write" not in sys.argv[1:]:
    sys.stdout.write(table)
else:
    text = DOCS.read_text()
    start = text.index(HEADER)
    lines = text[start:].split("\n")
    end = next((i for i, line in enumerate(lines) if not line.startswith("|")), len(lines))
    rest = "\n".join(lines[end:])
    DOCS.write_text(text[:start] + table + (rest if rest.strip() else ""))
