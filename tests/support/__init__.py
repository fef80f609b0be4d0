"""Helpers more than one test folder uses."""
