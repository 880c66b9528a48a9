"""Stage 4, analyse: rows per claim-outcome, the evidence network (networkx), gaps and statistics."""
