"""Reading a YAML mapping from user input with one-line errors (file and line named).

`yaml.SafeLoader` only (no `!!python` tags). Before any Python object is built the node graph is
checked: nesting at most MAX_DEPTH levels and at most MAX_NODES nodes with every alias expanded,
so an anchor bomb ("billion laughs") or a deeply nested file is refused in one line instead of
exhausting memory or the stack."""

from __future__ import annotations

from pathlib import Path

import yaml

from perfmodel.common.errors import PerfModelError
from perfmodel.common.jsonfile import MAX_DEPTH

# Nodes in a user's YAML with every alias expanded (a large workload file has a few thousand).
MAX_NODES = 1_000_000


def _expanded_size(node, where: str) -> int:
    """Nodes under `node` with aliases expanded (memoized per shared node, so linear in the file)."""
    memo: dict[int, int] = {}

    def size(n, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise PerfModelError(f"{where}: YAML nested more than {MAX_DEPTH} levels deep")
        key = id(n)
        if key in memo:
            return memo[key]
        total = 1
        if isinstance(n, yaml.SequenceNode):
            total += sum(size(c, depth + 1) for c in n.value)
        elif isinstance(n, yaml.MappingNode):
            total += sum(size(k, depth + 1) + size(v, depth + 1) for k, v in n.value)
        if total > MAX_NODES:
            raise PerfModelError(f"{where}: YAML expands to more than {MAX_NODES:,} nodes (anchors and aliases); "
                                 "refused")
        memo[key] = total
        return total

    return size(node, 0)


# libyaml's safe loader when PyYAML was built with it (same nodes and errors, about 10x faster: the
# bundled catalog's YAML was a third of a cold `tune`), else the pure-Python one.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str, where: Path | str):
    """`yaml.safe_load` with the depth and expansion checks above; YAML errors in one line."""
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, str(where))
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        if "nesting depth" in str(getattr(exc, "problem", "")):  # libyaml's own depth limit
            raise PerfModelError(f"{where}: YAML nested too deeply") from None
        mark = getattr(exc, "problem_mark", None)
        at = f" line {mark.line + 1}" if mark else ""
        raise PerfModelError(f"{where}:{at} malformed YAML: {getattr(exc, 'problem', None) or exc}") from None
    except RecursionError:
        raise PerfModelError(f"{where}: YAML nested too deeply") from None
    finally:
        loader.dispose()


def load_mapping(path: Path | str, text: str, *, what: str) -> dict:
    """Parse `text` (read from `path`) as YAML that must be a mapping; `what` says which kind of
    file it is, for the message ("a workload file must be a mapping, ...")."""
    data = safe_load(text, path)
    if not isinstance(data, dict):
        raise PerfModelError(f"{path}: {what} must be a mapping, got {type(data).__name__}")
    return data
