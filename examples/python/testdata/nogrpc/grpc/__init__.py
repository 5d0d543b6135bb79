# Put first on PYTHONPATH, this package hides Debian's python3-grpcio:
# the tests see what a plugin does on a Python without it.
raise ImportError("No module named 'grpc' (hidden by examples/python/testdata/nogrpc)")
