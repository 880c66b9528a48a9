"""BibTeX in and out: scan the file into blocks, parse entries, decode values, check fields, normalise for import, display names."""
