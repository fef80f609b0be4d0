"""Masking, retention and erasure of personal data."""
