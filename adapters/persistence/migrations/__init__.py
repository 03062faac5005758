"""Schema migrations for adapters.persistence.models; applied by `waybill migrate` and at start-up."""
