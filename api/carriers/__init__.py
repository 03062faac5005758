"""Carrier accounts and rates: connectCarrier, carrierAccounts, rates."""
