"""Low-level I/O shared by every stage: atomic and durable writes, reading under a size cap, swapping a built
folder in, the stat index of file hashes, process helpers."""
