"""Batch buckets: a short batch runs in the smallest compiled size that holds it, with the same tokens."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asrperf.batch_buckets import BucketLog, bucket_for, bucket_sizes, buckets_met
from asrperf.corpus import utterances

pytestmark = pytest.mark.cpu


def test_bucket_sizes():
    assert bucket_sizes(8) == (1, 2, 4, 8)
    assert bucket_sizes(6) == (1, 2, 4, 6)
    assert bucket_sizes(1) == (1,)
    assert bucket_sizes(8, multiple=2) == (2, 4, 8)  # every device gets the same share
    with pytest.raises(ValueError):
        bucket_sizes(6, multiple=4)


@given(batch=st.integers(1, 64), rows=st.integers(1, 64))
def test_the_smallest_bucket_that_holds_the_rows(batch, rows):
    sizes = bucket_sizes(batch)
    if rows > batch:
        with pytest.raises(ValueError):
            bucket_for(rows, sizes)
        return
    chosen = bucket_for(rows, sizes)
    assert chosen >= rows and all(size < rows for size in sizes if size < chosen)
    assert chosen < 2 * rows or chosen == sizes[0]  # never more than half padding


@given(st.integers(1, 16), st.integers(0, 70))
def test_a_job_meets_the_buckets_of_its_batches(batch, windows):
    """What the corpus benchmark warms up: the bucket of every batch a job of ``windows`` windows forms."""
    sizes = bucket_sizes(batch)
    batches = [min(batch, windows - start) for start in range(0, windows, batch)]
    assert buckets_met(sizes, windows) == sorted({bucket_for(rows, sizes) for rows in batches})


def test_bucket_log_counts_padding():
    log = BucketLog()
    log.ran(4, 3)
    log.ran(8, 8)
    log.compile_s[4] = 1.25
    assert log.as_extra() == {"decoder_rows": 12, "padding_rows": 1, "bucket_compile_s": {"4": 1.25}}


@pytest.mark.parametrize("backend,options", [("jax", {}), ("torch", {"compile": "none"})])
def test_one_utterance_decodes_one_row_with_the_tokens_it_gets_alone(pipeline, backend, options):
    batched = pipeline(backend, batch_size=8, **options)
    alone = pipeline(backend, batch_size=1, **options)
    samples = utterances()[3].samples()
    first, again = batched.run(samples), batched.run(samples)
    assert first.extra["decoder_rows"] == again.extra["decoder_rows"] == 1  # not 8: no padding rows
    assert again.extra["bucket_compile_s"] == {}  # compiled once, on first use
    assert [s.text for s in first.segments] == [s.text for s in alone.run(samples).segments]
    # Three files of one window each: one batch, in the bucket of 4 (one padding row), as alone.
    files = [u.samples() for u in utterances()[:3]]
    many = batched.run_many(files)
    assert (many.extra["decoder_rows"], many.extra["padding_rows"]) == (4, 1)
    assert [[s.text for s in f] for f in many.segments] == [[s.text for s in alone.run(f).segments] for f in files]
