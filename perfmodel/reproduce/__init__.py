"""`perfmodel reproduce`: every seed paper's headline, predicted by the model on the paper's own
setup next to the published figure, with a status (reproduced / missed / not modeled)."""

from perfmodel.reproduce._entry import ABSOLUTE_TOLERANCE, RATIO_TOLERANCE, Context, Entry, judge
from perfmodel.reproduce._run import SEEDS, register, reproduce, seed_names

__all__ = ["ABSOLUTE_TOLERANCE", "RATIO_TOLERANCE", "SEEDS", "Context", "Entry", "judge", "register", "reproduce",
           "seed_names"]
