"""Running the mesh: the local launcher (``make up``) and Envoy's configuration."""
