"""A session: the ``Session`` façade and what a session keeps (state, history, files, commands)."""
