"""CRM connectors: the contract every CRM implements (`base`) and one subpackage per CRM."""
