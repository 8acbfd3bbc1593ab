"""Arena: what competitive strategies keep beyond one run (ORC ratings and trials)."""
