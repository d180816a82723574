"""Everything that runs local servers: the kwok cluster, processes, PKI, webhook receiver."""
