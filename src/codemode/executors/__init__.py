"""The host side of a worker: the executor protocol, the worker process, calls from code to the host."""
