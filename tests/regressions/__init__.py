"""Every input that once crashed, hung or slowed a parser, replayed on every run (issue 8)."""
