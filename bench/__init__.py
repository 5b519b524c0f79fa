"""stockledger benchmarks: every figure next to a ceiling measured in the same run."""
