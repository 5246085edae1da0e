"""Hypothesis strategies more than one test module draws from (the fuzz campaign's are in tests/fuzz/)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

# Any JSON value: null, booleans, integers, finite floats, short strings, and lists and objects of
# them, up to 40 leaves.
json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=40,
)
