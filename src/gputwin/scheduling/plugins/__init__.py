"""Built-in plugins (classes only; :mod:`gputwin.scheduling.builtins` registers them)."""
