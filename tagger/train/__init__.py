"""Training: one run and its directory, the loop and its records, several processes, threads."""
