"""Stage 4, analyse: rows per claim-outcome, the evidence network (networkx), gaps and statistics;
distinct studies and reviews behind any set of findings (studies), the overlap of reviews
(overlap: corrected covered area) and summary-of-findings rows (sof)."""
