"""How a worker is confined: bubblewrap, seccomp, cgroups, the egress proxy, its directory, its environment."""
