"""Realistic, deterministic demo data for Custodian: four source systems plus ground truth.

See README.md beside this file for the files, columns, rates, events and faults.
"""

from .generator import DemoSummary, generate_demo_data
from .rates import CORRUPTION_RATES, EVENT_TYPES, MISSING_RATES, SOURCES

__all__ = [
    "CORRUPTION_RATES",
    "EVENT_TYPES",
    "MISSING_RATES",
    "SOURCES",
    "DemoSummary",
    "generate_demo_data",
]
