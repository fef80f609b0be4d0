"""Daily monitoring (R15-R23): rules over the change log and the golden table, risk events,
customer risk, change-volume anomalies and alerts."""
