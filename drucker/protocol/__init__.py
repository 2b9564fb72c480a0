"""Protocol adapters: translate wire messages to runtime calls and errors to gRPC statuses."""
