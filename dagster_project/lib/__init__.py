"""Pure logic, testable without Dagster: `defs/` wires these functions into assets."""
