"""Summaries and reports for people: the CLI, the board, audit reports."""
