"""Data-quality gates (Great Expectations) and quality measures."""
