"""The thin trigger edge: the only modules that import azure.functions."""
