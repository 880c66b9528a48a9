"""Low-level I/O shared by every stage: atomic and durable writes, the stat index of file hashes, process helpers."""
