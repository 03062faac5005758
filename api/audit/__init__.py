"""The audit log: the mutation recorder and the auditLog query."""
