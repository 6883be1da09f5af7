"""The service report: what the experts investigated and resolved, from the notifications ledger."""
