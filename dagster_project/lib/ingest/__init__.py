"""Reading source files into the raw layer: lossless, partitioned, idempotent."""
