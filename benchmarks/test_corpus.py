"""The corpus benchmark: every utterance its own file, all of them in one job.

What the open_asr_leaderboard measures, and what a transcription service does: RTFx is
the corpus's total audio over the time of one ``transcribe_many`` call (windows of
several files share each batch where the backend can: ``many_files`` in the row), and
WER is over the whole corpus. Warm: >= 3 rounds after a warm-up of every batch bucket.
"""

from __future__ import annotations

from asrperf.backends.devices import reset_peak_device_memory
from asrperf.batch_buckets import buckets_met
from asrperf.bench.audio_cases import file_set
from asrperf.bench.record import ResultRow
from conftest import corpus_dir

from .checks import assert_transcribed, calibrating, skip_unless_runnable, timing
from .matrix import FILE_AUDIO


def test_corpus(benchmark, pipeline, case, request):
    skip_unless_runnable(case)
    pipe = pipeline(case.backend, case.model, case.device, case.dtype, case.batch_size, longform=case.longform,
                    **case.options)
    files = file_set(case.audio, corpus_dir(request.config))
    timed = timing(request.config)
    if timed["warmup_rounds"]:
        # A warm-up round of the whole corpus would cost as much as a timed one. What it must do is
        # compile every batch bucket the job meets (asrperf.batch_buckets) and touch the model: one
        # job per such bucket size, of that many files, does it (the corpora's clips are one window
        # each; a bucket the timed rounds still compile shows in the row's bucket_compile_s).
        for rows in buckets_met(getattr(pipe, "buckets", (1,)), len(files.files)):
            pipe.run_many(list(files.files[:rows]))
        timed["warmup_rounds"] = 0
    reset_peak_device_memory(case.backend)
    run = benchmark.pedantic(pipe.run_many, args=(list(files.files),), iterations=1, **timed)
    stats = benchmark.stats.stats
    info = ResultRow.from_run(pipe.describe(), run, phase="corpus", seconds=stats.median,
                              reference=list(files.references), round_s=stats.data).as_dict()
    info.update(files=len(files.files))
    benchmark.extra_info.update(info, audio=case.audio, audio_source=files.source)
    assert_transcribed(case, benchmark.extra_info, calibrating(request.config))


test_corpus.audio_cases = FILE_AUDIO
