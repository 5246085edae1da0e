"""The fuzzing harness: seed corpora, mutations, hypothesis strategies and the parsers under test.

`seeds` holds real inputs of every kind and crafted hostile ones, `mutate` the byte and text
mutations both engines share, `strategies` the hypothesis strategies, and `harness` the targets
(one per parser) with the per-input time check, crash signatures and the regression corpus.
`tests/test_fuzz_short.py` (CI) and `bench/fuzz_campaign.py` (the long campaign) drive them.
"""
