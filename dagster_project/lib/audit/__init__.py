"""Monthly quality audits (R5, R23): measures per source and field, kept for trends."""
