"""How closely backends must agree: every tolerance in one place, with the numbers behind it.

Calibrated on 2026-11-25 on a 2-core AMD EPYC (the project's CI machine), tiny.en,
greedy decoding as in ``DecodingSettings``, on the shipped corpus:

=========================  ============  ===============  =============================
backend (tiny.en)          corpus WER    24-utt subset    notes
=========================  ============  ===============  =============================
openai-whisper float32     0.1676        0.1559           the reference
faster-whisper float32     0.1676        0.1559           word-for-word identical to it
faster-whisper int8        0.1638        0.1559
jax float32                0.1601        0.1407           per-window log-mel (whisper-jax)
jax bfloat16               0.1638        0.1407
transformers float32 b4    0.1601        0.1407           word-for-word identical to jax
=========================  ============  ===============  =============================

Pairwise WER between any two of those: at most 0.078 over the corpus (0.081 on the
subset), at most 0.44 on a single utterance (short sentences: one word is 0.1+).
The two chunked implementations (asrperf's jax and transformers' pipeline) agree
exactly, as do the two sequential ones (openai-whisper and faster-whisper).
Each bound below sits above the measured value with room for machine-to-machine
float differences, and far below what a broken backend produces (a wrong mel, a
wrong timestamp rule or dropped seams each moved WER by 0.1 or more while this
suite was built).
"""

#: Corpus WER a working tiny.en backend reaches on the shipped speech (measured <= 0.168).
MAX_WER = 0.20
#: A backend's corpus WER may differ from openai-whisper's by at most this (measured <= 0.016).
MAX_WER_DELTA_VS_REFERENCE = 0.03
#: Pairwise WER between two backends' transcripts, over the subset (measured <= 0.080).
MAX_PAIRWISE_WER = 0.12
#: Pairwise WER on any one utterance (measured <= 0.44; utterances are 8-13 words).
MAX_PAIRWISE_WER_PER_UTTERANCE = 0.60
#: MLPerf-style accuracy gate: (1 - WER) must reach this share of the reference's (1 - WER).
ACCURACY_TARGET = 0.99
#: The backend every other one is compared with.
REFERENCE_BACKEND = "openai-whisper"


def accuracy_ok(wer: float, reference_wer: float, target: float = ACCURACY_TARGET) -> bool:
    return (1.0 - wer) >= target * (1.0 - reference_wer)
