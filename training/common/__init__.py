"""What every step of the pipeline shares: the real data, DSA augmentation, the model zoo, and the
provenance record (hardware, command line) that every result carries."""
