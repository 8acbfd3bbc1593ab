"""Arena: what competitive strategies keep beyond one run (ORC ratings and trials, SAO curriculum progress)."""
