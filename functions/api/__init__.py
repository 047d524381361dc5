"""Object models, validation and manifest conversion: the contract with users."""
