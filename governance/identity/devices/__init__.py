"""A person's second-factor devices: enrolling an authenticator, recovery codes, removal, and
checking a code."""
