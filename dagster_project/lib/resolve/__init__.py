"""Entity resolution: Splink matching, clustering and golden IDs."""
