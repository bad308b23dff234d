"""The corpus benchmark: every utterance its own file, all of them in one job.

What the open_asr_leaderboard measures, and what a transcription service does: RTFx is
the corpus's total audio over the time of one ``transcribe_many`` call (windows of
several files share each batch where the backend can: ``many_files`` in the row), and
WER is over the whole corpus. Warm, >= 3 rounds after a warm-up round.
"""

from __future__ import annotations

from asrperf.backends.devices import reset_peak_device_memory
from asrperf.bench.audio_cases import file_set
from asrperf.bench.record import peak_rss_mb, row
from asrperf.segments import join_text
from conftest import corpus_dir

from .checks import assert_transcribed, skip_unless_runnable
from .matrix import FILE_AUDIO


def test_corpus(benchmark, pipeline, case, request):
    skip_unless_runnable(case)
    pipe = pipeline(case.backend, case.model, case.device, case.dtype, case.batch_size, longform=case.longform)
    files = file_set(case.audio, corpus_dir(request.config))
    rounds = max(3, request.config.getoption("--asrperf-rounds"))
    reset_peak_device_memory(case.backend)
    per_file = benchmark.pedantic(pipe.transcribe_many, args=(list(files.files),), rounds=rounds, warmup_rounds=1,
                                  iterations=1)
    stats = pipe.last_run
    description = pipe.describe()
    info = row(
        description, phase="corpus", audio_s=stats.audio_s, seconds=benchmark.stats.stats.median,
        reference=list(files.references), hypothesis=[join_text(segments) for segments in per_file],
        tokens=stats.tokens, max_length_hits=stats.max_length_hits, peak_rss=peak_rss_mb(), model=case.model,
    )
    info.update(files=len(files.files), windows=stats.windows, many_files=description["many_files"])
    benchmark.extra_info.update(info, audio=case.audio, audio_source=files.source)
    assert_transcribed(case, benchmark.extra_info)


test_corpus.audio_cases = FILE_AUDIO
