"""BibTeX in and out: scan a file into blocks, parse entries, decode values, check fields, normalise, display."""
