"""The one JSON reader for user files: errors name the file, line and column."""

from __future__ import annotations

import pytest

from perfmodel.common.errors import PerfModelError
from perfmodel.common.jsonfile import parse_json


def test_parses_json():
    assert parse_json("x.json", '{"a": [1, 2.5, null]}') == {"a": [1, 2.5, None]}


def test_syntax_error_names_the_file_line_and_column():
    with pytest.raises(PerfModelError, match=r"^plan\.json: malformed JSON at line 2 column 8: Expecting value$"):
        parse_json("plan.json", '{"a": 1,\n  "b": }')
