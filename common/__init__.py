"""Code shared by every process of the CSMS mesh."""
