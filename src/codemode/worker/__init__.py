"""The child program that runs a session's code: standard library only, loaded by path in the worker."""
