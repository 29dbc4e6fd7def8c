"""Reference for tests: the step model called directly, without the timer's memo or snapping."""

from perfmodel.iteration import BatchShape, IterationModel


def direct_step_time(model: IterationModel, prefill_tokens, pairs, kv_read, prefill_seqs, decode_seqs,
                     decode_context) -> float:
    return model.iteration_time_s(BatchShape(prefill_tokens, pairs, kv_read, prefill_seqs, decode_seqs,
                                             decode_context))
